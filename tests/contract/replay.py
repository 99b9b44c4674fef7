"""Recorded real GitHub answers, from PyGithub's own test data (`tests/ReplayData`).

PyGithub's sdist ships the HTTP exchanges its tests replay, recorded against github.com.
The contract tests compare the fake's answers with them, field by field at the top level.
The sdist of the installed PyGithub version is fetched once into `.cache/pygithub-sdist/`.

A ReplayData file is a sequence of records, each 10 lines and a blank one: protocol, verb,
host, port, path (with query), request headers, request body, status, response headers,
response body.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.contract.validation import REPO_ROOT

CACHE_DIR = REPO_ROOT / ".cache" / "pygithub-sdist"
RECORD_LINES = 10


class ReplayDataUnavailable(RuntimeError):
    """PyGithub's sdist could not be fetched or does not hold ReplayData."""


@dataclass(frozen=True)
class Recorded:
    """One recorded exchange with github.com."""

    verb: str
    path: str
    status: int
    body: Any


def replay_data_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """The ReplayData folder for the installed PyGithub, fetched with pip if not cached."""
    version = importlib.metadata.version("PyGithub")
    target = cache_dir / f"PyGithub-{version}" / "ReplayData"
    if target.is_dir() and any(target.iterdir()):
        return target
    with tempfile.TemporaryDirectory() as download:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--quiet", f"PyGithub=={version}", "-d", download,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        archives = list(Path(download).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise ReplayDataUnavailable(
                f"could not download PyGithub=={version}'s sdist from PyPI "
                f"({' '.join(command)}):\n{result.stderr}"
            )
        # One staging folder per process: xdist workers fetch at the same time on a fresh
        # clone, and a shared one was emptied by one worker under another.
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="ReplayData.partial-", dir=target.parent))
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                if member.isfile() and "/tests/ReplayData/" in member.name:
                    source = archive.extractfile(member)
                    assert source is not None
                    (staging / Path(member.name).name).write_bytes(source.read())
        if not any(staging.iterdir()):
            raise ReplayDataUnavailable(f"PyGithub=={version}'s sdist has no tests/ReplayData")
        # Renamed into place only when complete, so an interrupted fetch is retried; a
        # worker that finds another's complete copy in place keeps that one.
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (target.is_dir() and any(target.iterdir())):
                raise
    return target


def read_records(path: Path) -> list[Recorded]:
    """Every exchange recorded in one ReplayData file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    index = 0
    while index + RECORD_LINES <= len(lines):
        if lines[index] not in ("http", "https"):
            index += 1
            continue
        verb, url, status, body = (
            lines[index + 1],
            lines[index + 4],
            lines[index + 7],
            lines[index + 9],
        )
        records.append(
            Recorded(
                verb=verb, path=url, status=int(status), body=json.loads(body) if body else None
            )
        )
        index += RECORD_LINES + 1
    return records


def recorded(directory: Path, file_name: str, verb: str, path: str) -> Recorded:
    """The first successful exchange of `verb path` in a ReplayData file."""
    for record in read_records(directory / file_name):
        if record.verb == verb and record.path == path and 200 <= record.status < 300:
            return record
    raise LookupError(f"{file_name} has no successful {verb} {path}")


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (booleans are not numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_differences(real: dict[str, Any], fake: dict[str, Any]) -> list[str]:
    """Top-level keys of `real` that `fake` lacks or holds with another JSON type (any
    type is fine where the real value is null)."""
    differences = []
    for key, value in real.items():
        if key not in fake:
            differences.append(f"missing {key!r} (real: {json_type(value)})")
        elif value is not None and json_type(value) != json_type(fake[key]):
            differences.append(f"{key!r} is {json_type(fake[key])}, real is {json_type(value)}")
    return differences
