"""The GitOps repository: the overlays Argo CD deploys from, changed only by commits the pipeline makes.

Every change is one transaction on a working clone (`.lab/gitops-work/`):

    fetch → reset --hard origin/main → apply the edit → render + validate the overlay → commit → push
                      ▲                                                                         │
                      └──────────── the remote moved (another ship won the race) ◄──────────────┘

Re-applying the edit on top of the new remote head, instead of rebasing a commit, is lossless (the edit is
"set dev's image to X", which means the same on any head) and can never leave a conflicted tree. The overlay
is rendered with `kubectl kustomize` and validated against the Kubernetes schema before anything is committed;
on any failure, and on Ctrl-C (which also says whether the commit reached the remote), the clone is reset to the
remote head, so it is clean between commands and holds no unpushed commit. What someone else left in it (a commit
made by hand, edits) is kept on a `lab-saved/<UTC time>` branch before a reset; read-only commands only fetch.

A dry run rehearses the transaction: the same code, for real, on a scratch copy of the remote in a temporary
directory (a bare clone of it, and a working clone of that), so that promote and rollback compute the real bump or
revert from the real history, render and validate it, and show the diff and the commit they would push. Nothing
reaches the remote: the clone, fetch and push the real run would make are printed by the dry run's runner.

Every deploy commit carries git trailers (lab/gitops/trailers.py): `git log` is the audit trail. The overlay edits
and their validation are lab/gitops/overlay.py; what the pipeline needs from the cluster, lab/gitops/watcher.py.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.core import names
from lab.core.errors import CommandFailed, GitOpsError, Refused, SecretFound
from lab.core.runner import Runner
from lab.core.ui import UI
from lab.gitops.clone import BRANCH, WorkingClone, last_line
from lab.gitops.overlay import IMAGE_NAME, ImageSpec, overlay_file, read_image, set_image, validate_rendered
from lab.gitops.schema_cache import SchemaCache
from lab.gitops.trailers import APP_COMMIT, TRAILER_KEYS, DeployRecord, deploy_records, deploy_trailers
from lab.tools import git, git_credential, kustomize, secretscan

SEED_README = """\
# GitOps repository of the GitOps Lab

Argo CD deploys `overlays/<env>` (dev, staging, prod) from this repository. Nobody edits it by hand:
`invoke ship` bumps the image of dev, `invoke promote` copies an image to the next environment and
`invoke rollback` reverts a deploy. Every deploy is a commit whose trailers name the app commit, the
image, its digest and who deployed it:

    git log --format='%h %s%n%(trailers)' -- overlays/dev
"""


# The repository --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One commit on an environment's overlay: a new kustomization.yaml, or the revert of a commit."""

    env: str
    message: str
    trailers: Sequence[tuple[str, str]]
    expected_image: str  # what the rendered Deployment must run after the change
    new_text: str | None = None
    revert: str | None = None
    # More files of the overlay to write with NEW_TEXT (path in the repository -> text; None deletes it), e.g. a
    # NetworkPolicy the new kustomization.yaml lists (lab/steps/netpol.py).
    files: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Committed:
    sha: str  # the new commit, or the unchanged head when there was nothing to do
    attempts: int
    changed: bool = True


Planner = Callable[["GitOpsRepo"], Change | None]


@dataclass
class GitOpsRepo(WorkingClone):
    """A working clone of the GitOps remote. ``seed_dir`` (the app repo's overlays/) seeds an empty remote."""

    runner: Runner
    url: str
    workdir: Path
    seed_dir: Path
    seed_sha: str = ""
    author: git.Identity = field(default_factory=lambda: git.Identity(names.LAB, names.LAB_EMAIL))
    ui: UI | None = None
    kubectl: str | None = None
    # What URL's user:password@ carried (it is never in `url`): given to git through a credential helper in the
    # environment of each network command (lab/tools/git_credential.py), so no file and no output holds it.
    credentials: git_credential.Credential | None = None
    # Where the objects already found valid are remembered (lab/gitops/schema_cache.py); None: validate every time.
    schema_cache: SchemaCache | None = None
    max_attempts: int = 8  # each lost race means another pusher won: N racers need at most N attempts
    backoff: float = 0.2  # seconds before the 2nd attempt; doubles, jittered ×0.5-1.5, capped at 2 s
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    clock: Callable[[], datetime] = field(default_factory=lambda: utc_now)  # names lab-saved/<time> branches
    _lock_depth: int = field(default=0, init=False, repr=False)
    _lock_file: Any = field(default=None, init=False, repr=False)
    _pushing: tuple[str, str, str | None] | None = field(default=None, init=False, repr=False)  # sha, subject, env
    _changing: bool = field(default=False, init=False, repr=False)  # the clone holds this run's own unpushed edits
    # True when the remote is the lab's own git server and `up` creates it before it opens this repo: a dry run of
    # `up` that cannot read it yet plans for the empty repository `up` creates (see _rehearse).
    created_by_up: bool = False
    # A dry run's rehearsal (see _rehearse): the dry run's own runner, which records what would reach the remote,
    # the clone the real run works in, and the scratch bare repository standing in for the remote.
    _dry: Runner | None = field(default=None, init=False, repr=False)
    _real_workdir: Path | None = field(default=None, init=False, repr=False)
    _remote: str = field(default="", init=False, repr=False)
    # Changes already rendered and validated, keyed by the tree they were applied to (see _apply).
    _validated: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)

    # Opening: clone (or reuse) the working clone, fetch, seed an empty remote ---------------------------
    def open(self, *, seed: bool = True, read_only: bool = False) -> None:
        """Clone or reuse the working clone, fetch, and reset it to the remote head. An empty remote is seeded
        when SEED (ship), else Refused: promote, rollback and history have nothing to work on there.

        READ_ONLY (history): only fetch, into origin/main, which is what the reading methods read; the working
        tree, its branch and any local commit stay exactly as they are. Otherwise work the remote does not have
        (a commit made by hand in the clone, uncommitted edits) is kept on a branch `lab-saved/<UTC time>`, and
        said, before the reset. A dry run does all of it on a scratch copy of the remote (_rehearse)."""
        self._rehearse()
        with self.locked(), self._interruptible():
            self._ensure_clone()
            self._fetch()
            empty = git.rev_parse(self.runner, self.workdir, self.remote_head) is None
            if empty and (read_only or not seed):
                raise Refused(
                    f"the GitOps repo {self.url} is empty: nothing deployed yet",
                    hint="`invoke ship` seeds it from overlays/ and deploys to dev",
                )
            if read_only:
                return
            self._keep_local_work()
            if empty and seed:
                self._discard_local()
                self._seed()
            git.switch_branch(self.runner, self.workdir, BRANCH)
            git.reset_hard(self.runner, self.workdir, self.remote_head)

    def _push(self, sha: str, subject: str, env: str | None) -> git.PushOutcome:
        """Push HEAD (the commit SHA) to main. While it runs, a Ctrl-C is answered by _interrupted (is SHA there?)."""
        self._pushing = (sha, subject, env)
        outcome = git.push(self.runner, self.workdir, "origin", f"HEAD:refs/heads/{BRANCH}", env=self._auth_env())
        self._pushing = None
        self._changing = not outcome.ok
        return outcome

    def _seed(self) -> None:
        """First use of an empty remote: commit the app repo's overlays/ and a README, push main."""
        if not self.seed_dir.is_dir():
            raise GitOpsError(f"the GitOps repo {self.url} is empty and there is no {self.seed_dir} to seed it from")
        short = self.seed_sha[:7] or "unknown"
        self._say(f"GitOps repo {self.url} is empty: seeding it from {self.seed_dir} (app commit {short})")
        git.switch_branch(self.runner, self.workdir, BRANCH)
        self._changing = True
        shutil.copytree(
            self.seed_dir,
            self.workdir / "overlays",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
        )
        (self.workdir / "README.md").write_text(SEED_README)
        git.add(self.runner, self.workdir, ["overlays", "README.md"])
        self._refuse_secrets(f"the seed of {self.url} from {self.seed_dir}")
        message = f"seed: overlays from app repo {short}\n"
        trailers = [(APP_COMMIT, self.seed_sha)] if self.seed_sha else []
        sha = git.commit(self.runner, self.workdir, message, author=self.author, trailers=trailers)
        outcome = self._push(sha, message.strip(), None)
        if outcome.ok:
            if self._dry is not None:
                self._rehearsed_push(git.rev_parse(self.runner, self.workdir) or "HEAD", patch=False)
            return
        self._discard_local()
        if not outcome.race:
            raise GitOpsError(f"{self.url} refused the seed commit: {outcome.message}")
        # Someone else seeded it a moment ago: use theirs.
        self._fetch()
        if git.rev_parse(self.runner, self.workdir, self.remote_head) is None:
            raise GitOpsError(f"{self.url}: the seed push was rejected but {BRANCH} still does not exist")

    # Reading (at the remote head, after open()) ---------------------------------------------------------
    def read(self, path: str, rev: str | None = None) -> str | None:
        """A file at REV (default: the remote head)."""
        return git.show(self.runner, self.workdir, rev or self.remote_head, path)

    def image(self, env: str, rev: str | None = None) -> ImageSpec | None:
        text = self.read(overlay_file(env), rev)
        return read_image(text, overlay_file(env)) if text is not None else None

    def resolve(self, rev: str) -> str | None:
        return git.rev_parse(self.runner, self.workdir, rev)

    def history(self, env: str, *, max_count: int | None = None) -> list[DeployRecord]:
        """Deploy, promote and rollback commits of ENV, newest first."""
        entries = git.log(
            self.runner, self.workdir, self.remote_head, TRAILER_KEYS, paths=[f"overlays/{env}"], max_count=max_count
        )
        return deploy_records(entries, env)

    # Changing -------------------------------------------------------------------------------------------
    def commit_change(self, plan: Planner, *, seed: bool = True) -> Committed:
        """Run one transaction (module docstring). PLAN is called on a clean clone at the remote head on every
        attempt and returns the change to make there, or None when there is nothing to do.

        Ctrl-C at any point leaves no unpushed commit in the clone and raises Interrupted saying whether the
        commit reached the remote (checked there)."""
        self._rehearse()
        with self.locked(), self._interruptible():
            self.open(seed=seed)

            def attempt() -> tuple[str, str, str | None] | None:
                change = plan(self)
                if change is None:
                    return None
                try:
                    self._apply(change)
                    sha = self._commit(change)
                except Exception:
                    self._discard_local()
                    raise
                return (sha, change.message.splitlines()[0], change.env) if sha else None

            return self._push_loop(attempt)

    def _push_loop(self, attempt: Callable[[], tuple[str, str, str | None] | None]) -> Committed:
        """The transaction's loop, for commit_change and commit_files: ATTEMPT makes the commit on the clone at the
        remote head and returns (sha, subject, env), or None when there is nothing to commit; a push that lost a race
        is retried on the new head (fetch, reset, ATTEMPT again) with a jittered backoff, up to max_attempts."""
        for n in range(1, self.max_attempts + 1):
            if n > 1:
                self._fetch()
                git.reset_hard(self.runner, self.workdir, self.remote_head)
            made = attempt()
            if made is None:
                return Committed(git.rev_parse(self.runner, self.workdir) or "", n, changed=False)
            sha, subject, env = made
            outcome = self._push(sha, subject, env)
            if outcome.ok:
                if self._dry is not None:
                    self._rehearsed_push(sha)
                return Committed(sha, n)
            self._discard_local()
            if not outcome.race:
                raise GitOpsError(
                    f"the GitOps remote {self.url} refused the push to {BRANCH}: {outcome.message}",
                    hint="nothing was changed there; check the remote's permissions and hooks",
                )
            if n < self.max_attempts:
                delay = min(2.0, self.backoff * 2 ** (n - 1)) * (0.5 + self.rng())
                self._say(f"  {BRANCH} moved on {self.url} (attempt {n}): re-applying on the new head")
                self.sleep(delay)
        raise GitOpsError(
            f"the GitOps remote {self.url} kept moving: gave up after {self.max_attempts} attempts",
            hint="something else pushes there constantly; retry the command",
        )

    def check_change(self, plan: Planner) -> None:
        """Apply PLAN's change to the clone as last opened, render + validate it, and reset the clone: the checks of
        commit_change with nothing committed (ship runs them before it builds and pushes an image). Call open()
        first; the remote is not fetched again."""
        with self.locked(), self._interruptible():
            change = plan(self)
            if change is None:
                return
            try:
                self._apply(change)
            finally:
                self._discard_local()

    def commit_files(self, directory: str, files: Mapping[str, str], message: str) -> Committed:
        """Make DIRECTORY (relative to the repository) hold exactly FILES (path under it -> text) and push that as
        one commit: the lab's platform manifests (lab/components/platform.py). Unchanged: no commit. commit_change's
        loop (_push_loop: write → secret scan → commit → push, retried on a lost race), minus the overlay render."""
        self._rehearse()
        with self.locked(), self._interruptible():
            self.open()

            def attempt() -> tuple[str, str, str | None] | None:
                self._changing = True
                target = self.workdir / directory
                shutil.rmtree(target, ignore_errors=True)
                for rel, text in files.items():
                    path = target / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text, encoding="utf-8")
                git.add(self.runner, self.workdir, [directory])
                if not git.has_staged_changes(self.runner, self.workdir):
                    self._discard_local()
                    return None
                self._refuse_secrets(f"the commit `{message.splitlines()[0]}`")
                return git.commit(self.runner, self.workdir, message, author=self.author), message.splitlines()[0], None

            return self._push_loop(attempt)

    def bump(
        self,
        env: str,
        spec: ImageSpec,
        *,
        app_commit: str,
        digest: str = "",
        image_name: str = IMAGE_NAME,
        extra: Sequence[tuple[str, str]] = (),
    ) -> Committed:
        """Deploy SPEC to ENV: `deploy(ENV): <image> <tag>` with the deploy trailers. DIGEST (the registry's) goes
        into the Image-Digest trailer even when SPEC does not pin it in the overlay. EXTRA: more trailers after
        them (the image scan's: lab/steps/scan.py)."""
        trailers = deploy_trailers(
            env=env,
            image=spec.tagged,
            deployed_by=str(self.author),
            app_commit=app_commit,
            digest=digest or spec.digest,
        )
        trailers += extra
        return self.commit_change(self._bump_plan(env, spec, trailers, image_name))

    def check_bump(self, env: str, spec: ImageSpec) -> None:
        """Would ENV's overlay, with its image set to SPEC, render and validate? GitOpsError if not (check_change)."""
        self.check_change(self._bump_plan(env, spec, [], IMAGE_NAME))

    def _bump_plan(
        self, env: str, spec: ImageSpec, trailers: Sequence[tuple[str, str]], image_name: str
    ) -> Callable[[GitOpsRepo], Change]:
        path = overlay_file(env)

        def plan(repo: GitOpsRepo) -> Change:
            current = repo.read(path)
            if current is None:
                raise GitOpsError(f"the GitOps repo {self.url} has no {path}", hint="was it seeded from overlays/?")
            return Change(
                env=env,
                message=f"deploy({env}): {image_name} {spec.new_tag or spec.digest}\n",
                trailers=trailers,
                expected_image=spec.reference,
                new_text=set_image(current, spec, path),
            )

        return plan

    def _apply(self, change: Change) -> None:
        """Apply CHANGE to the clean clone, then render + validate the overlay.

        The same change on the same commit renders the same (kustomize is deterministic), so a change that was
        validated on this HEAD before (ship checks dev's overlay before the build, then bumps it) is not rendered
        a second time; a remote that moved in between, or a digest added by --pin-digest, is a new key."""
        path = overlay_file(change.env)
        key = (
            git.rev_parse(self.runner, self.workdir) or "",
            change.env,
            change.revert or "",
            change.new_text or "",
            change.expected_image,
            *(f"{k}\0{v}" for k, v in sorted(change.files.items())),
        )
        self._changing = True
        if change.revert is not None:
            failure = git.revert_no_commit(self.runner, self.workdir, change.revert)
            if failure is not None:
                raise GitOpsError(
                    f"git revert of {change.revert[:7]} does not apply cleanly on {BRANCH}: {last_line(failure)}",
                    hint="roll back to a given deploy instead: `invoke rollback ENV --to SHA`",
                ) from failure
        elif change.new_text is not None:
            (self.workdir / path).write_text(change.new_text)
        for rel, text in change.files.items():
            if not rel.startswith(f"overlays/{change.env}/"):
                raise ValueError(f"a change of overlays/{change.env} cannot write {rel}")
            if text is None:
                (self.workdir / rel).unlink(missing_ok=True)
            else:
                (self.workdir / rel).write_text(text)
        if key[0] and key in self._validated:
            return
        self._render_and_validate(change.env, change.expected_image)
        self._validated.add(key)

    def _commit(self, change: Change) -> str:
        """Commit the applied CHANGE. Returns the sha, or "" if it changed nothing."""
        git.add(self.runner, self.workdir, [f"overlays/{change.env}"])
        if not git.has_staged_changes(self.runner, self.workdir):
            return ""
        self._refuse_secrets(f"the commit `{change.message.splitlines()[0]}`")
        return git.commit(self.runner, self.workdir, change.message, author=self.author, trailers=change.trailers)

    def _refuse_secrets(self, what: str) -> None:
        """The secret scan of what is staged (lab/tools/secretscan.py), before every commit this transaction makes:
        a plaintext secret is SecretFound, and the clone is reset (nothing committed, nothing pushed)."""
        found = secretscan.scan_staged(self.runner, self.workdir)
        if not found:
            return
        self._discard_local()
        files = sorted({f.path for f in found})
        raise SecretFound(
            f"{what} holds {len(found)} plaintext secret(s): refused, nothing was committed or pushed",
            secretscan.describe(found),
            hint=f"remove them from {', '.join(files)} where they came from (a Secret reaches the cluster encrypted, "
            "never in plaintext: docs/security.md), then run the command again",
        )

    def _render_and_validate(self, env: str, expected_image: str) -> None:
        directory = self.workdir / "overlays" / env
        try:
            rendered = kustomize.render(self.runner, directory, kubectl=self.kubectl)
        except CommandFailed as exc:
            raise GitOpsError(
                f"overlays/{env} would not render: {last_line(exc)}",
                hint="nothing was committed; the working clone was reset",
            ) from exc
        validate_rendered(rendered, expected_image, where=f"overlays/{env}", cache=self.schema_cache)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_workdir(state_dir: Path) -> Path:
    return state_dir / "gitops-work"


def resolve_url(url: str) -> str:
    """A local path to a bare repo becomes absolute (a clone records it as its origin); URLs stay as they are."""
    if "://" in url or url.startswith("git@"):
        return url
    return os.path.abspath(os.path.expanduser(url))
