"""The GitOps working clone's mechanics, shared by every GitOpsRepo transaction (lab/gitops/repo.py): the lock
that keeps one process at a time in the clone, cloning and fetching with the credentials kept out of the URL, what
to do with work found in the clone (kept on a `lab-saved/<UTC time>` branch) or left by this run (discarded), and
a dry run's rehearsal on a scratch copy of the remote, and Ctrl-C: never an unpushed commit left behind, and
whether the push landed, said.

WorkingClone is a mixin: GitOpsRepo (a dataclass) owns the fields declared here.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.core.errors import CommandFailed, GitOpsError, Interrupted
from lab.core.poll import Poller
from lab.core.runner import Runner, for_reading
from lab.core.ui import UI
from lab.tools import git, git_credential

BRANCH = "main"
# After a Ctrl-C during a push: how long to ask the remote whether the commit arrived (seconds, per fetch), and
# for how long to look again while it is not there (a remote that already had the pack may still be updating main).
INTERRUPT_CHECK_TIMEOUT = 15.0
INTERRUPT_SETTLE = 2.0


class WorkingClone:
    runner: Runner
    url: str
    workdir: Path
    author: git.Identity
    ui: UI | None
    credentials: git_credential.Credential | None
    clock: Callable[[], datetime]
    created_by_up: bool
    _lock_depth: int
    _lock_file: Any
    _changing: bool
    _dry: Runner | None
    _real_workdir: Path | None
    _remote: str
    _pushing: tuple[str, str, str | None] | None  # sha, subject, env of the push in flight
    sleep: Callable[[float], None]

    @property
    def remote_head(self) -> str:
        return f"origin/{BRANCH}"

    def _say(self, message: str) -> None:
        if self.ui is not None:
            self.ui.info(message)

    # Concurrency on this machine: one process at a time in the working clone (others wait). Processes on
    # other machines (or other clones) are handled by the push-retry loop.
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if self.runner.dry_run:  # not rehearsing yet: nothing to lock (and nothing to create under .lab)
            yield
            return
        if self._lock_depth == 0:
            import fcntl

            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.workdir.parent / f"{self.workdir.name}.lock").open("a")
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_file is not None:
                self._lock_file.close()  # closing releases the flock
                self._lock_file = None

    def _rehearse(self) -> None:
        """In a dry run, once: from here on run everything for real on a scratch copy of the remote (a bare clone in
        a temporary directory, removed with this object) through the dry run's real runner (for_reading). A remote
        that cannot be read fails as in the real run, unless `up` creates it first (created_by_up): then it is the
        empty one `up` creates, and the dry run says so. The clone the real run makes is printed by the dry run."""
        if not self.runner.dry_run:
            return
        dry, real = self.runner, for_reading(self.runner)
        scratch = Path(tempfile.mkdtemp(prefix="gitops-lab-dry-run-"))
        weakref.finalize(self, shutil.rmtree, scratch, True)
        bare = scratch / "remote.git"
        try:
            git.clone(real, self.url, bare, bare=True, env=self._auth_env())
        except CommandFailed as exc:
            if not self.created_by_up:
                shutil.rmtree(scratch, ignore_errors=True)
                raise self._unreachable("clone", exc) from exc
            self._say(
                f"dry run: cannot read {git.strip_credentials(self.url)} ({last_line(exc)}): planning for an "
                "empty GitOps repo, as `invoke up` creates it"
            )
            git.init_bare(real, bare, BRANCH)
        if not (self.workdir / ".git").is_dir():
            git.clone(dry, self.url, self.workdir, env=self._auth_env())  # what the real run does: printed
        self._dry, self._real_workdir = dry, self.workdir
        self.runner, self.workdir, self._remote = real, scratch / "work", str(bare)

    def _rehearsed_push(self, sha: str, *, patch: bool = True) -> None:
        """Show the commit SHA that the real run would push (its message, trailers and diff), and print that push."""
        assert self._dry is not None and self._real_workdir is not None
        shown = git.show_commit(self.runner, self.workdir, sha, patch=patch)
        subject = shown.splitlines()[0] if shown else sha[:7]
        if self.ui is not None:
            where = git.strip_credentials(self.url)
            self.ui.manifest(f"GitOps commit {sha[:7]} {subject} (dry run: not pushed to {where})", shown)
        git.push(self._dry, self._real_workdir, "origin", f"HEAD:refs/heads/{BRANCH}", env=self._auth_env())

    def _ensure_clone(self) -> None:
        url = self._remote or self.url
        if (self.workdir / ".git").is_dir():
            current = git.remote_url(self.runner, self.workdir)
            if current == url:
                return
            # A new remote (or the same one, without the credentials an older lab stored in the URL): point the
            # clone there. Local branches stay; open() keeps anything the new remote lacks on a lab-saved branch.
            self._say(
                f"GitOps working clone {self.workdir} pointed at {git.strip_credentials(current)!r}, "
                f"settings say {self.url!r}: switching its origin"
            )
            git.set_remote_url(self.runner, self.workdir, url)
            return
        if self.workdir.exists() and any(self.workdir.iterdir()):
            raise GitOpsError(
                f"{self.workdir} exists and is not a git clone",
                hint="the lab keeps its GitOps working clone there: move that directory away",
            )
        try:
            git.clone(self.runner, url, self.workdir, env=self._auth_env())
        except CommandFailed as exc:
            raise self._unreachable("clone", exc) from exc

    def _fetch(self, *, timeout: float = git.NETWORK_TIMEOUT) -> None:
        try:
            git.fetch(self.runner, self.workdir, env=self._auth_env(), timeout=timeout)
        except CommandFailed as exc:
            raise self._unreachable("fetch from", exc) from exc
        if self._dry is not None and self._real_workdir is not None:
            git.fetch(self._dry, self._real_workdir, env=self._auth_env())  # what the real run does: printed

    def _auth_env(self) -> dict[str, str]:
        return git_credential.helper_env(self.credentials) if self.credentials is not None else {}

    def _unreachable(self, action: str, exc: CommandFailed) -> GitOpsError:
        denied = "Authentication failed" in exc.stderr_tail or "could not read Username" in exc.stderr_tail
        return GitOpsError(
            f"cannot {action} the GitOps repo {self.url}: {last_line(exc)}",
            hint="check the user and password (or token) in LAB_GITOPS_REMOTE (https://USER:TOKEN@host/repo.git)"
            if denied
            else "is the git server up (`invoke up`)? or check settings.gitops_remote",
        )

    def _discard_local(self) -> None:
        """Drop this transaction's own unpushed commit and edits: the clone back at the remote head (an empty
        remote: back to an unborn main with an empty tree)."""
        self._changing = False
        if not (self.workdir / ".git").is_dir():
            return
        if git.rev_parse(self.runner, self.workdir, self.remote_head) is not None:
            git.switch_branch(self.runner, self.workdir, BRANCH)
            git.reset_hard(self.runner, self.workdir, self.remote_head)
        elif git.rev_parse(self.runner, self.workdir) is not None or git.status_porcelain(self.runner, self.workdir):
            git.make_unborn(self.runner, self.workdir, BRANCH)

    def _keep_local_work(self) -> None:
        """Before open() resets the clone: commits of HEAD the remote does not have, and uncommitted changes (the
        lab never leaves either behind: someone worked in .lab/gitops-work by hand), go to a new branch
        lab-saved/<UTC time> (uncommitted changes as one commit on top), and the user is told where."""
        runner, work = self.runner, self.workdir
        head = git.rev_parse(runner, work)
        remote = git.rev_parse(runner, work, self.remote_head)
        ahead = git.count_commits(runner, work, head, exclude=remote) if head else 0
        dirty = git.status_porcelain(runner, work)
        if not ahead and not dirty:
            return
        stamp = self.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        name, n = f"lab-saved/{stamp}", 1
        while git.branch_exists(runner, work, name):
            n += 1
            name = f"lab-saved/{stamp}-{n}"
        if head:
            git.create_branch(runner, work, name, head)
        git.switch_branch(runner, work, name)  # HEAD onto the new branch; index and tree untouched
        if dirty:
            git.add(runner, work, ["."])
            git.commit(runner, work, "lab: uncommitted changes of the GitOps working clone\n", author=self.author)
        what = [f"{ahead} local commit{'s' if ahead != 1 else ''}"] if ahead else []
        what += ["uncommitted changes"] if dirty else []
        if self.ui is not None:
            self.ui.warn(
                f"{' and '.join(what)} in {work} that the GitOps remote does not have: kept on branch {name} "
                f"before resetting to {self.remote_head} (see `git -C {work} log {name}`)"
            )

    # Ctrl-C: never leave an unpushed commit behind, and say whether the push landed ---------------------
    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        try:
            yield
        except KeyboardInterrupt:
            raise self._interrupted() from None

    def _interrupted(self) -> Interrupted:
        pushing, self._pushing = self._pushing, None
        if self._dry is not None:
            return Interrupted("interrupted (dry run: nothing was changed)")
        if pushing is None:
            if self._changing:  # never the user's own work: that is kept by open() on a lab-saved branch
                self._discard_local()
            return Interrupted(
                f"interrupted before anything was pushed: the GitOps remote {self.url} is unchanged",
                hint="nothing was committed; run the command again",
            )
        sha, subject, env = pushing
        reached = self._reached(sha)
        self._discard_local()  # at the remote head, which holds the commit when it did reach the remote
        what = f"the commit {sha[:7]} ({subject})"
        look = f"`invoke history {env}`" if env else "the next command"
        if reached:
            return Interrupted(
                f"interrupted, but {what} had reached the GitOps remote {self.url}: it is on {BRANCH}",
                hint=f"nothing to undo; Argo CD deploys it like any other commit ({look} lists it)",
                pushed=True,
            )
        if reached is None:
            return Interrupted(
                f"interrupted while pushing {what}, and the GitOps remote {self.url} does not answer: it may or may "
                "not have arrived; the working clone no longer holds it",
                hint=f"{look} shows whether it is there once the remote answers",
                pushed=None,
            )
        # Not there when looked at. That is not "did not reach": git push was stopped mid-way, but a remote that
        # already had the pack goes on (its hooks, the ref update) without it, so the commit may land later.
        return Interrupted(
            f"interrupted while pushing {what}: it was not on the GitOps remote {self.url} when checked, but a push "
            "the remote had already received can still land there; the working clone no longer holds it",
            hint=f"{look} shows whether it arrived; if it did not, run the command again",
            pushed=None,
        )

    def _reached(self, sha: str) -> bool | None:
        """Is SHA on the remote's main (fetched again, for up to INTERRUPT_SETTLE seconds while it is not)? None
        when the remote does not answer."""
        for _ in Poller(INTERRUPT_SETTLE, first=0.25, factor=1.0, maximum=0.25, sleep=self.sleep):
            try:
                self._fetch(timeout=INTERRUPT_CHECK_TIMEOUT)
            except GitOpsError:
                return None
            remote = git.rev_parse(self.runner, self.workdir, self.remote_head)
            if remote is not None and git.is_ancestor(self.runner, self.workdir, sha, remote):
                return True
        return False


def last_line(exc: CommandFailed) -> str:
    lines = [line for line in exc.stderr_tail.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {exc.code}"
