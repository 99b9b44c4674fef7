"""GitHub's rules for repository contents, topics, branches and branch protection."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from sandbox.fake_github.errors import (
    Conflict,
    GitHubError,
    NotFound,
    ValidationFailed,
    field_error,
)
from sandbox.fake_github.git import (
    Commit,
    DirectoryEntry,
    Signature,
    is_directory,
    list_directory,
)
from sandbox.fake_github.models import Repository, User, utc_now
from sandbox.fake_github.protection import BranchProtection
from sandbox.fake_github.world import BOT_EMAIL, BOT_LOGIN, DOCS, World

MAX_TOPICS = 20
TOPIC_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
TOPIC_RULE = (
    "Topics must start with a lowercase letter or number, consist of 50 characters or less, "
    "and can include hyphens."
)
LIST_COMMITS_DOCS = f"{DOCS}/commits/commits#list-commits"
EARLIEST = datetime.min.replace(tzinfo=UTC)


class ContentRules(World):
    """Files (commits on branches), topics, branches and their protection."""

    def resolve_ref(self, repository: Repository, ref: str | None = None) -> Commit:
        """The commit a branch name or commit sha names (the default branch when None)."""
        with self.lock:
            if repository.is_empty:
                raise NotFound("This repository is empty.")
            ref = (ref or repository.default_branch).removeprefix("refs/heads/")
            sha = repository.branches.get(ref)
            if sha is None and ref in self.objects.commits:
                sha = ref
            if sha is None:
                raise NotFound(f"No commit found for the ref {ref}")
            return self.objects.commits[sha]

    def read_file(
        self, repository: Repository, path: str, ref: str | None = None
    ) -> tuple[Commit, bytes] | None:
        """The commit and bytes of a file, or None when `path` is a directory; 404 otherwise."""
        with self.lock:
            commit = self.resolve_ref(repository, ref)
            if path in commit.files:
                return commit, self.objects.blobs[commit.files[path]]
            if is_directory(commit.files, path):
                return None
            raise NotFound()

    def read_directory(
        self, repository: Repository, path: str, ref: str | None = None
    ) -> tuple[Commit, list[DirectoryEntry]]:
        """The commit and children of a directory (see `git.list_directory`)."""
        with self.lock:
            commit = self.resolve_ref(repository, ref)
            if not is_directory(commit.files, path):
                raise NotFound()
            return commit, list_directory(commit.files, path)

    def list_commits(
        self,
        repository: Repository,
        *,
        sha: str | None = None,
        path: str | None = None,
        author: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[Commit]:
        """`GET .../commits`: the commits reachable from `sha` (a branch or commit sha, the
        default branch when None), newest first, filtered like GitHub's query parameters.

        `path` keeps the commits whose change touched it (a file or a directory): what is at
        `path` differs from its first parent's, adds and deletes included. `author` is a login
        or an email; `since`/`until` bound the committer date, as `git log` does.
        """
        with self.lock:
            if repository.is_empty:
                raise Conflict("Git Repository is empty.", documentation_url=LIST_COMMITS_DOCS)
            start = self._commit_to_list_from(repository, sha)
            after, before = _commit_date_bound(since), _commit_date_bound(until)
            emails = self._author_emails(author) if author else None
            path = path.strip("/") if path else None
            return [
                commit
                for commit in self._history(start)
                if path is None or self._touches(commit, path)
                if emails is None or commit.author.email.lower() in emails
                if after is None or _commit_date(commit) >= after
                if before is None or _commit_date(commit) <= before
            ]

    def _commit_to_list_from(self, repository: Repository, sha: str | None) -> Commit:
        ref = (sha or repository.default_branch).removeprefix("refs/heads/")
        head = repository.branches.get(ref)
        if head is not None:
            return self.objects.commits[head]
        # The object store is shared by every repository: a sha counts only when one of this
        # repository's branches reaches it, as it would in its own git storage.
        reachable = {
            commit.sha
            for branch_head in repository.branches.values()
            for commit in self._history(self.objects.commits[branch_head])
        }
        if ref not in reachable:
            raise NotFound(f"No commit found for SHA: {ref}", documentation_url=LIST_COMMITS_DOCS)
        return self.objects.commits[ref]

    def _history(self, start: Commit) -> Iterator[Commit]:
        """Every commit reachable from `start`, each once, newest first as `git log` (and so
        GitHub) walks: the next commit is the newest-dated one among the parents of those
        already listed. The fake's histories are linear, so this is first-parent order; merge
        parents would be followed too, interleaved by committer date, ties to the one found
        first."""
        seen = {start.sha}
        found = 0
        queue: list[tuple[float, int, str]] = [(-_commit_date(start).timestamp(), found, start.sha)]
        while queue:
            _, _, sha = heapq.heappop(queue)
            commit = self.objects.commits[sha]
            yield commit
            for parent in commit.parents:
                if parent not in seen:
                    seen.add(parent)
                    found += 1
                    date = _commit_date(self.objects.commits[parent])
                    heapq.heappush(queue, (-date.timestamp(), found, parent))

    def _touches(self, commit: Commit, path: str) -> bool:
        """Whether `commit` changed `path` (a file, or anything under a directory) against its
        first parent; a root commit touches everything it holds."""
        parent_files = self.objects.commits[commit.parents[0]].files if commit.parents else {}
        return _version_at(commit.files, path) != _version_at(parent_files, path)

    def _author_emails(self, author: str) -> set[str]:
        """The emails a commit author filter stands for: the email itself, or a user's email
        and noreply address when it is a login (GitHub ties commits to users by email)."""
        if "@" in author:
            return {author.lower()}
        user: User | None = self.users.get(author.lower())
        if user is None:
            return set()
        emails = {f"{user.login}@users.noreply.github.com".lower()}
        emails |= {f"{user.id}+{user.login}@users.noreply.github.com".lower()}
        if user.email:
            emails.add(user.email.lower())
        return emails

    def user_by_email(self, email: str) -> User | None:
        """The user a commit signature's email belongs to (GitHub shows them as the commit's
        author or committer), or None when no user has it."""
        with self.lock:
            wanted = email.lower()
            for user in self.users.values():
                if wanted in self._author_emails(user.login):
                    return user
            return None

    def write_file(
        self,
        repository: Repository,
        path: str,
        content: bytes,
        *,
        message: str,
        sha: str | None = None,
        branch: str | None = None,
        author: Signature | None = None,
        committer: Signature | None = None,
    ) -> tuple[Commit, bool]:
        """`PUT .../contents/{path}`: create (no sha) or update (the current blob sha) a file.

        Returns the new commit and whether the file was created.
        """
        with self.lock:
            self._check_writable(repository)
            branch = branch or repository.default_branch
            files: dict[str, str] = {}
            parents: tuple[str, ...] = ()
            if not repository.is_empty:
                head = self._branch_head(repository, branch)
                files, parents = dict(head.files), (head.sha,)
            if is_directory(files, path) or not path:
                raise ValidationFailed(
                    errors=[field_error("Content", "path", "invalid", f"{path} is a directory")]
                )
            current = files.get(path)
            if current is not None and sha is None:
                raise ValidationFailed('Invalid request.\n\n"sha" wasn\'t supplied.')
            if sha is not None and sha != current:
                raise Conflict(
                    f"{path} does not match {sha}", documentation_url=f"{DOCS}/repos/contents"
                )
            files[path] = self.objects.put_blob(content)
            commit = self._commit(repository, branch, files, parents, message, author, committer)
            return commit, current is None

    def delete_file(
        self,
        repository: Repository,
        path: str,
        *,
        message: str,
        sha: str,
        branch: str | None = None,
        author: Signature | None = None,
        committer: Signature | None = None,
    ) -> Commit:
        """`DELETE .../contents/{path}`: remove a file; `sha` must be its current blob sha."""
        with self.lock:
            self._check_writable(repository)
            head = (
                self.resolve_ref(repository, None)
                if branch is None
                else self._branch_head(repository, branch)
            )
            files = dict(head.files)
            current = files.get(path)
            if current is None:
                raise NotFound()
            if sha != current:
                raise Conflict(
                    f"{path} does not match {sha}", documentation_url=f"{DOCS}/repos/contents"
                )
            del files[path]
            return self._commit(
                repository,
                branch or repository.default_branch,
                files,
                (head.sha,),
                message,
                author,
                committer,
            )

    def _branch_head(self, repository: Repository, branch: str) -> Commit:
        sha = repository.branches.get(branch)
        if sha is None:
            raise NotFound(f"Branch {branch} not found")
        return self.objects.commits[sha]

    def _commit_files(
        self, repository: Repository, branch: str, files: Mapping[str, bytes], message: str
    ) -> Commit:
        blobs = {path: self.objects.put_blob(data) for path, data in files.items()}
        parent = repository.branches.get(branch)
        return self._commit(
            repository, branch, blobs, (parent,) if parent else (), message, None, None
        )

    def _commit(
        self,
        repository: Repository,
        branch: str,
        files: Mapping[str, str],
        parents: tuple[str, ...],
        message: str,
        author: Signature | None,
        committer: Signature | None,
    ) -> Commit:
        now = utc_now()
        bot = Signature(BOT_LOGIN, BOT_EMAIL, now)
        commit = self.objects.commit(
            files, parents, message, author or committer or bot, committer or author or bot
        )
        if repository.is_empty:
            # The first commit creates the branch and makes it the default, as a first push does.
            repository.default_branch = branch
        repository.branches[branch] = commit.sha
        repository.pushed_at = repository.updated_at = now
        return commit

    def replace_topics(self, repository: Repository, names: Iterable[str]) -> list[str]:
        """`PUT .../topics`: GitHub's topic rules, duplicates dropped, order kept."""
        with self.lock:
            self._check_writable(repository)
            topics = list(dict.fromkeys(names))
            invalid = [topic for topic in topics if not TOPIC_PATTERN.fullmatch(topic)]
            if invalid:
                raise ValidationFailed(
                    errors=[f"{topic} is not a valid topic. {TOPIC_RULE}" for topic in invalid],
                    documentation_url=f"{DOCS}/repos/repos#replace-all-repository-topics",
                )
            if len(topics) > MAX_TOPICS:
                raise ValidationFailed(
                    errors=[f"A repository cannot have more than {MAX_TOPICS} topics."],
                    documentation_url=f"{DOCS}/repos/repos#replace-all-repository-topics",
                )
            repository.topics = topics
            return topics

    def get_branch(self, repository: Repository, branch: str) -> Commit:
        """The head commit of a branch (404 "Branch not found" when it does not exist)."""
        with self.lock:
            sha = repository.branches.get(branch)
            if sha is None:
                raise NotFound("Branch not found")
            return self.objects.commits[sha]

    def get_protection(self, repository: Repository, branch: str) -> BranchProtection:
        """A branch's protection (404 "Branch not protected" when it has none)."""
        with self.lock:
            self.get_branch(repository, branch)
            protection = repository.protections.get(branch)
            if protection is None:
                raise NotFound(
                    "Branch not protected",
                    documentation_url=f"{DOCS}/branches/branch-protection#get-branch-protection",
                )
            return protection

    def set_protection(
        self, repository: Repository, branch: str, protection: BranchProtection
    ) -> BranchProtection:
        """`PUT .../protection`: replace a branch's protection, checking the people it names."""
        with self.lock:
            self._check_writable(repository)
            self.get_branch(repository, branch)
            reviews = protection.required_pull_request_reviews
            if reviews is not None and not 0 <= reviews.required_approving_review_count <= 6:
                raise ValidationFailed(
                    "Invalid request.\n\n"
                    f"{reviews.required_approving_review_count} must be less than or equal to 6.",
                    documentation_url=f"{DOCS}/branches/branch-protection#update-branch-protection",
                )
            users: list[str] = []
            teams: list[str] = []
            if protection.restrictions is not None:
                users += protection.restrictions.users
                teams += protection.restrictions.teams
            if reviews is not None:
                users += [*reviews.dismissal_users, *reviews.bypass_users]
                teams += [*reviews.dismissal_teams, *reviews.bypass_teams]
            unknown = [login for login in users if login.lower() not in self.users]
            unknown += [slug for slug in teams if self._find_team(repository.owner, slug) is None]
            # The fake has no GitHub Apps, so any app named in the restrictions is unknown.
            unknown += list(protection.restrictions.apps) if protection.restrictions else []
            if unknown:
                raise ValidationFailed(
                    "Validation Failed",
                    errors=[
                        f"Could not resolve to a User or Team with the name '{name}'."
                        for name in unknown
                    ],
                    documentation_url=f"{DOCS}/branches/branch-protection#update-branch-protection",
                )
            repository.protections[branch] = protection
            return protection

    def remove_protection(self, repository: Repository, branch: str) -> None:
        """`DELETE .../protection` (404 "Branch not protected" when it has none)."""
        with self.lock:
            self._check_writable(repository)
            self.get_protection(repository, branch)
            del repository.protections[branch]


def _version_at(files: Mapping[str, str], path: str) -> tuple[tuple[str, str], ...]:
    """What a tree holds at `path`: its blob, or every (path, blob) under it when it is a
    directory; empty when there is nothing."""
    prefix = f"{path}/"
    return tuple(
        sorted(
            (name, sha) for name, sha in files.items() if name == path or name.startswith(prefix)
        )
    )


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _commit_date(commit: Commit) -> datetime:
    # A client may date its commits in any way; what cannot be read sorts as the oldest.
    return _parse_date(commit.committer.date) or EARLIEST


def _commit_date_bound(value: str | None) -> datetime | None:
    """A `since`/`until` bound (GitHub answers 400 to a timestamp it cannot read)."""
    if value is None:
        return None
    bound = _parse_date(value)
    if bound is None:
        raise GitHubError(f"Invalid date: {value}", documentation_url=LIST_COMMITS_DOCS)
    return bound
