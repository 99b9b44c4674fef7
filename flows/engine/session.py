"""The registry session every flow opens: `registry_session()`.

The registry's URL comes from the `paved-registry` block, loaded once per flow run (a
round trip to Prefect's API) rather than once per registry step; the engine is cached
per process and URL (registry.db.cached_engine). This module sits below everything that
talks to the registry (runtime, notify_failure, the engine), so none of them needs
another to reach it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.context import FlowRunContext
from sqlalchemy.orm import Session

from blocks import REGISTRY_BLOCK, RegistryDatabase, load_block
from registry.db import cached_engine, session_scope

__all__ = ["registry_session"]

# The registry's URL per flow run. Per run, not per process: a test process saves a new
# block between runs.
_REGISTRY_URLS: dict[str, str] = {}
_REGISTRY_URLS_KEPT = 64


def _registry_url() -> str:
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else None
    known = _REGISTRY_URLS.get(run_id) if run_id is not None else None
    if known is not None:
        return known
    url = load_block(RegistryDatabase, REGISTRY_BLOCK).url.get_secret_value()
    if run_id is not None:
        if len(_REGISTRY_URLS) >= _REGISTRY_URLS_KEPT:  # a long-lived process stays small
            _REGISTRY_URLS.clear()
        _REGISTRY_URLS[run_id] = url
    return url


@contextmanager
def registry_session() -> Iterator[Session]:
    """A session on the registry named by the `paved-registry` block; commits on success.

    One engine per process and registry URL (registry.db.cached_engine): a new engine per
    step cost a connect and SQLite's pragmas each time.
    """
    with session_scope(cached_engine(_registry_url())) as session:
        yield session
