"""Content-addressed blobs and commits: just enough git for the contents API.

Blob shas are real git blob shas (`git hash-object` gives the same), so a client can
compute the `sha` a contents update needs exactly as it would against GitHub. Tree and
commit shas are content-addressed too but not byte-compatible with git: nothing in the
REST calls Paved makes lets a client recompute them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def blob_sha(data: bytes) -> str:
    """The git blob sha of `data`."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def tree_sha(files: Mapping[str, str], directory: str = "") -> str:
    """A stable sha for the directory `directory` of a flat {path: blob sha} tree."""
    prefix = f"{directory}/" if directory else ""
    entries = sorted((path, sha) for path, sha in files.items() if path.startswith(prefix))
    digest = hashlib.sha1(b"tree", usedforsecurity=False)
    for path, sha in entries:
        digest.update(f"\x00{path}\x00{sha}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Signature:
    """Who made a commit, and when (ISO 8601, UTC, like GitHub)."""

    name: str
    email: str
    date: str


@dataclass(frozen=True)
class Commit:
    """One commit: the whole tree as a flat {path: blob sha} map, its parents and message."""

    sha: str
    files: Mapping[str, str]
    parents: tuple[str, ...]
    message: str
    author: Signature
    committer: Signature

    @property
    def tree_sha(self) -> str:
        """The sha of the commit's root tree."""
        return tree_sha(self.files)


@dataclass(frozen=True)
class DirectoryEntry:
    """One child of a directory as the contents API lists it."""

    name: str
    path: str
    type: str  # "file" or "dir"
    sha: str


@dataclass
class ObjectStore:
    """The blobs and commits of every repository of the fake (shared, like GitHub's storage)."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def put_blob(self, data: bytes) -> str:
        """Store `data` and return its blob sha."""
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    def commit(
        self,
        files: Mapping[str, str],
        parents: tuple[str, ...],
        message: str,
        author: Signature,
        committer: Signature | None = None,
    ) -> Commit:
        """Record a commit of the tree `files` on top of `parents`."""
        committer = committer or author
        header = "\n".join(
            [
                f"tree {tree_sha(files)}",
                *(f"parent {parent}" for parent in parents),
                f"author {author.name} <{author.email}> {author.date}",
                f"committer {committer.name} <{committer.email}> {committer.date}",
            ]
        )
        sha = hashlib.sha1(f"{header}\n\n{message}".encode(), usedforsecurity=False).hexdigest()
        commit = Commit(
            sha=sha,
            files=MappingProxyType(dict(files)),
            parents=parents,
            message=message,
            author=author,
            committer=committer,
        )
        self.commits[sha] = commit
        return commit


def is_directory(files: Mapping[str, str], path: str) -> bool:
    """Whether `path` is a directory of the tree (the root "" always is)."""
    if path == "":
        return True
    prefix = f"{path}/"
    return any(candidate.startswith(prefix) for candidate in files)


def list_directory(files: Mapping[str, str], path: str) -> list[DirectoryEntry]:
    """The direct children of directory `path`, directories and files, sorted by name."""
    prefix = f"{path}/" if path else ""
    children: dict[str, DirectoryEntry] = {}
    for candidate, sha in files.items():
        if not candidate.startswith(prefix):
            continue
        name, _, rest = candidate[len(prefix) :].partition("/")
        child_path = f"{prefix}{name}"
        if rest:
            children[name] = DirectoryEntry(name, child_path, "dir", tree_sha(files, child_path))
        else:
            children[name] = DirectoryEntry(name, child_path, "file", sha)
    return [children[name] for name in sorted(children)]
