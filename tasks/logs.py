"""The logger every task writes to, and `redact`, which keeps credentials out of what is
logged or raised."""

from __future__ import annotations

import logging
import re
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

__all__ = ["REDACTED", "RedactCredentials", "redact", "redact_logs_of", "task_logger"]


def task_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The run logger inside a Prefect run (so lines show in the UI); the `paved.tasks`
    logger when a task's function is called directly (scripts, benchmarks, `task.fn`)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("paved.tasks")


REDACTED = "***"
# `scheme://user:password@host` or `scheme://token@host`: everything before the `@`.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")
# `?token=...`, `&X-Amz-Signature=...`: query parameters that carry a credential.
_SECRET_PARAMETER = re.compile(
    r"(?P<key>[?&;](?:[\w.-]*(?:token|secret|password|passwd|pwd|key|signature|sig|auth"
    r"|credential|code|session)[\w.-]*)=)[^&#\s'\"<>]*",
    re.IGNORECASE,
)


def redact(text: object) -> str:
    """`text` with the credentials of every URL in it replaced by `***`: the user
    information (`https://***@host`) and the values of query parameters whose names
    say token, secret, password, key, signature, auth, credential, code or session.

    Used on every provider error before it is logged or raised (`tasks.errors`), so a
    failed call never puts a URL's credentials in a run's logs.
    """
    shown = _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", str(text))
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group('key')}{REDACTED}", shown)


class RedactCredentials(logging.Filter):
    """A logging filter that passes every record with `redact` applied to its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logs_of(*names: str) -> None:
    """Redact credentials in what the loggers `names` write (e.g. `httpx`, which logs
    each request's full URL); once per logger however often it is called."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
