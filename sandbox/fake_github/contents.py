"""GitHub's rules for repository contents, topics, branches and branch protection."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sandbox.fake_github.errors import Conflict, NotFound, ValidationFailed, field_error
from sandbox.fake_github.git import (
    Commit,
    DirectoryEntry,
    Signature,
    is_directory,
    list_directory,
)
from sandbox.fake_github.models import Repository, utc_now
from sandbox.fake_github.protection import BranchProtection
from sandbox.fake_github.world import BOT_EMAIL, BOT_LOGIN, DOCS, World

MAX_TOPICS = 20
TOPIC_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
TOPIC_RULE = (
    "Topics must start with a lowercase letter or number, consist of 50 characters or less, "
    "and can include hyphens."
)


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
