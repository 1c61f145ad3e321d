"""The git CLI: argv builders and output parsers. Every call goes through the Runner.

Network commands (clone, fetch, ls-remote, push) run with ``GIT_TERMINAL_PROMPT=0`` so a remote that asks for
credentials fails at once instead of waiting for a password on a terminal nobody watches.

The reading helpers (rev_parse, status_porcelain, config_get, remote_url, show, log) only read a local repository.
A dry run may pass them ``read_runner(runner)``, which runs them for real, so that the plan is computed from the
actual app repo (its commit, its dirty state) instead of "nothing exists yet".
"""

from __future__ import annotations

import getpass
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lab.core import names
from lab.core.errors import CommandFailed
from lab.core.runner import Result, Runner, for_reading

GIT = "git"
NETWORK_ENV = {"GIT_TERMINAL_PROMPT": "0"}
NETWORK_TIMEOUT = 120.0  # seconds; a lab remote answers in milliseconds, a hosted one in seconds

# Reasons git reports for a ref update that lost a race with another pusher: fetch, re-apply and push again.
# "[rejected] (fetch first)" / "(non-fast-forward)" come from the client's own check; the "[remote rejected]"
# ones from receive-pack when two pushes update the same ref at the same moment (builtin/receive-pack.c).
RACE_REASONS = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
)


def git(
    runner: Runner,
    repo: Path | None,
    *args: str,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 60.0,
) -> Result:
    """`git -C REPO ARGS...`."""
    argv = [GIT, *(["-C", str(repo)] if repo is not None else []), *args]
    return runner.run(argv, check=check, input=input, env=env, timeout=timeout)


# Reading ---------------------------------------------------------------------------------------------
def read_runner(runner: Runner) -> Runner:
    """The runner for local, read-only queries: RUNNER itself, or a real one when RUNNER is a dry run (and git
    is installed: without it a dry run plans for a fresh repository, as everywhere else).

    Only for the helpers below that read a local repository; never for anything that writes or talks to a remote.
    """
    if runner.dry_run and shutil.which(GIT) is not None:
        return for_reading(runner)
    return runner


def rev_parse(runner: Runner, repo: Path, ref: str = "HEAD") -> str | None:
    """The full sha of REF, or None if it does not resolve (an empty repository, an unknown ref)."""
    res = git(runner, repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    sha = res.stdout.strip()
    return sha if res.returncode == 0 and sha else None


def last_change(runner: Runner, repo: Path, rev: str, path: str) -> str | None:
    """The newest commit at or before REV that changed PATH (None if REV is unknown or PATH never changed)."""
    res = git(runner, repo, "rev-list", "--max-count=1", rev, "--", path, check=False)
    sha = res.stdout.strip()
    return sha if res.returncode == 0 and sha else None


def status_porcelain(runner: Runner, repo: Path, paths: Sequence[str] = ()) -> list[str]:
    """`git status --porcelain` lines (untracked files included, ignored ones not), limited to PATHS."""
    args = ["status", "--porcelain", "--untracked-files=all"]
    if paths:
        args += ["--", *paths]
    return [line for line in git(runner, repo, *args).stdout.splitlines() if line.strip()]


def config_get(runner: Runner, repo: Path | None, key: str) -> str:
    """A git config value (repo, global or system), or "" when unset."""
    return git(runner, repo, "config", "--get", key, check=False).stdout.strip()


def remote_url(runner: Runner, repo: Path, remote: str = "origin") -> str:
    return git(runner, repo, "remote", "get-url", remote, check=False).stdout.strip()


def strip_credentials(url: str) -> str:
    """URL without the `user[:password]@` part of a `scheme://` URL (a token often stands in the user name);
    scp-like `git@host:path` addresses and local paths carry no secret and are returned as they are."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def show_commit(runner: Runner, repo: Path, rev: str, *, patch: bool = True) -> str:
    """Commit REV as a reader wants to see it: subject, body with trailers, author, then its diff (PATCH) or the
    files it changed."""
    res = git(
        runner, repo, "show", "--no-color", "--format=%B%nAuthor: %an <%ae>", "--patch" if patch else "--stat", rev
    )
    return res.stdout


def show(runner: Runner, repo: Path, rev: str, path: str) -> str | None:
    """The content of PATH at REV, or None if it does not exist there."""
    res = git(runner, repo, "show", f"{rev}:{path}", check=False)
    return res.stdout if res.returncode == 0 else None


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def env(self) -> dict[str, str]:
        """Author and committer for one command, without touching anyone's git config."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


def identity(runner: Runner, repo: Path | None) -> Identity:
    """The user's git identity (user.name / user.email), else the login name at localhost (CI has no config)."""
    name = config_get(runner, repo, "user.name")
    email = config_get(runner, repo, "user.email")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            name = names.LAB
    return Identity(name, email or f"{name}@localhost")


# Changing a working clone ----------------------------------------------------------------------------
def clone(runner: Runner, url: str, dest: Path, *, bare: bool = False, env: Mapping[str, str] | None = None) -> None:
    """`git clone` URL into DEST (BARE: a bare copy of its branches, which changes nothing at URL)."""
    args = ["clone", "--quiet", "--no-tags", *(["--bare"] if bare else []), url, str(dest)]
    git(runner, None, *args, env={**NETWORK_ENV, **(env or {})}, timeout=NETWORK_TIMEOUT)


def init_bare(runner: Runner, dest: Path, branch: str) -> None:
    git(runner, None, "init", "--bare", "--quiet", "-b", branch, str(dest))


def fetch(
    runner: Runner,
    repo: Path,
    remote: str = "origin",
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = NETWORK_TIMEOUT,
) -> None:
    args = ("fetch", "--quiet", "--prune", "--no-tags", remote)
    git(runner, repo, *args, env={**NETWORK_ENV, **(env or {})}, timeout=timeout)


def set_remote_url(runner: Runner, repo: Path, url: str, remote: str = "origin") -> None:
    git(runner, repo, "remote", "set-url", remote, url)


def count_commits(runner: Runner, repo: Path, rev: str, *, exclude: str | None = None) -> int:
    """How many commits REV has that EXCLUDE (a ref; None: nothing) does not: `git rev-list --count REV ^EXCLUDE`."""
    args = ["rev-list", "--count", rev, *([f"^{exclude}"] if exclude else [])]
    return int(git(runner, repo, *args).stdout.strip() or 0)


def is_ancestor(runner: Runner, repo: Path, ancestor: str, rev: str) -> bool:
    """True when ANCESTOR is REV or reachable from it (`git merge-base --is-ancestor` exits 0)."""
    return git(runner, repo, "merge-base", "--is-ancestor", ancestor, rev, check=False).returncode == 0


def create_branch(runner: Runner, repo: Path, name: str, start: str = "HEAD") -> None:
    git(runner, repo, "branch", "--quiet", "--no-track", name, start)


def branch_exists(runner: Runner, repo: Path, name: str) -> bool:
    return git(runner, repo, "show-ref", "--verify", "--quiet", f"refs/heads/{name}", check=False).returncode == 0


def make_unborn(runner: Runner, repo: Path, branch: str) -> None:
    """HEAD on BRANCH with no commit, an empty index and an empty tree (an empty remote's state)."""
    git(runner, repo, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    git(runner, repo, "update-ref", "-d", f"refs/heads/{branch}")
    git(runner, repo, "read-tree", "--empty")
    git(runner, repo, "clean", "-fdq")


def reset_hard(runner: Runner, repo: Path, ref: str) -> None:
    """Make the index and working tree exactly REF, and remove untracked files."""
    git(runner, repo, "reset", "--quiet", "--hard", ref)
    git(runner, repo, "clean", "-fdq")


def switch_branch(runner: Runner, repo: Path, branch: str) -> None:
    """Point HEAD at BRANCH without touching the tree (works in an empty clone too)."""
    git(runner, repo, "symbolic-ref", "HEAD", f"refs/heads/{branch}")


def add(runner: Runner, repo: Path, paths: Sequence[str]) -> None:
    git(runner, repo, "add", "--all", "--", *paths)


def has_staged_changes(runner: Runner, repo: Path) -> bool:
    """True when the index differs from HEAD (`git diff --cached --quiet` exits 1)."""
    res = git(runner, repo, "diff", "--cached", "--quiet", check=False)
    return res.returncode == 1


def commit(
    runner: Runner,
    repo: Path,
    message: str,
    *,
    author: Identity,
    trailers: Sequence[tuple[str, str]] = (),
) -> str:
    """Commit the index with MESSAGE and git trailers; returns the new commit's sha.

    `git commit --trailer "Key: value"` (git >= 2.32, Documentation/git-commit.txt) appends the trailers as the
    last paragraph of the message, where `git log --format=%(trailers:...)` and `git interpret-trailers --parse`
    find them. The message goes on stdin (`-F -`), so no quoting issue can arise.
    """
    # --no-verify: the pipeline's commits are machine-written; a user's global hooks (core.hooksPath) are not for them.
    args = ["commit", "--quiet", "--no-verify", "-F", "-"]
    for key, value in trailers:
        args += ["--trailer", f"{key}: {value}"]
    git(runner, repo, *args, input=message, env=author.env())
    return rev_parse(runner, repo) or ""


def revert_no_commit(runner: Runner, repo: Path, sha: str) -> CommandFailed | None:
    """`git revert --no-commit SHA`; on a conflict aborts the revert and returns the failure (else None)."""
    res = git(runner, repo, "revert", "--no-commit", sha, check=False)
    if res.returncode == 0:
        return None
    git(runner, repo, "revert", "--abort", check=False)
    return CommandFailed(res.argv, res.returncode, res.stderr or res.stdout)


# Pushing ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushOutcome:
    ok: bool
    race: bool = False  # lost a race with another pusher: fetch, re-apply and retry
    reason: str = ""  # git's reason for the ref, e.g. "pre-receive hook declined"
    remote_messages: str = ""  # lines the remote printed ("remote: ..."), e.g. a hook's explanation

    @property
    def message(self) -> str:
        parts = [self.reason] if self.reason else []
        if self.remote_messages:
            parts.append(self.remote_messages)
        return "; ".join(parts) or "push failed"


def push(runner: Runner, repo: Path, remote: str, refspec: str, *, env: Mapping[str, str] | None = None) -> PushOutcome:
    """`git push --porcelain REMOTE REFSPEC`, classified: accepted, lost a race, or refused for another reason."""
    res = git(
        runner,
        repo,
        "push",
        "--porcelain",
        remote,
        refspec,
        check=False,
        env={**NETWORK_ENV, **(env or {})},
        timeout=NETWORK_TIMEOUT,
    )
    return parse_push(res.returncode, res.stdout, res.stderr)


def parse_push(returncode: int, stdout: str, stderr: str) -> PushOutcome:
    """Read `git push --porcelain` output (Documentation/git-push.txt, OUTPUT): one line per ref,
    ``<flag> \\t <from>:<to> \\t <summary> (<reason>)``, flag ``!`` for a rejected or failed ref."""
    remote_lines = [line.removeprefix("remote:").strip() for line in stderr.splitlines() if line.startswith("remote:")]
    remote_text = " ".join(line for line in remote_lines if line)
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0] != "!":
            continue
        summary = fields[2].strip()
        reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else summary
        race = any(r in summary for r in RACE_REASONS)
        return PushOutcome(False, race=race, reason=reason or summary, remote_messages=remote_text)
    if returncode == 0:
        return PushOutcome(True)
    # No per-ref line: the remote could not be reached or refused the connection.
    tail = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
    return PushOutcome(False, reason=tail or f"git push exited {returncode}", remote_messages=remote_text)


# History ---------------------------------------------------------------------------------------------
FIELD_SEP = "\x1f"
RECORD_SEP = "\x1e"
VALUE_SEP = "\x1d"  # between several values of one trailer (a comma could occur in a name)


def log_format(trailer_keys: Sequence[str]) -> str:
    """A `git log --format` that prints sha, committer date, author, subject, body, then each trailer's values.

    `%(trailers:key=K,valueonly,separator=%x1D)` (Documentation/pretty-formats.txt): only the values of
    trailer K, several joined by the separator; empty when the commit has none.
    """
    fields = ["%H", "%cI", "%an <%ae>", "%s", "%b"]
    fields += [f"%(trailers:key={key},valueonly,separator=%x1D)" for key in trailer_keys]
    return "%x1f".join(fields) + "%x1e"


@dataclass(frozen=True)
class LogEntry:
    sha: str
    date: str  # ISO 8601, committer date
    author: str
    subject: str
    body: str
    trailers: Mapping[str, tuple[str, ...]]

    def trailer(self, key: str) -> str:
        values = self.trailers.get(key, ())
        return values[0] if values else ""


def log(
    runner: Runner,
    repo: Path,
    rev: str,
    trailer_keys: Sequence[str],
    *,
    paths: Sequence[str] = (),
    max_count: int | None = None,
    oldest_first: bool = False,
) -> list[LogEntry]:
    """Commits reachable from REV (newest first; OLDEST_FIRST: parents before children, `--topo-order
    --reverse`), optionally only those touching PATHS."""
    args = ["log", f"--format={log_format(trailer_keys)}"]
    if oldest_first:
        args += ["--topo-order", "--reverse"]
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    args.append(rev)
    if paths:
        args += ["--", *paths]
    return parse_log(git(runner, repo, *args).stdout, trailer_keys)


def parse_log(output: str, trailer_keys: Sequence[str]) -> list[LogEntry]:
    entries = []
    for record in output.split(RECORD_SEP):
        record = record.strip("\n")
        if not record.strip():
            continue
        fields = record.split(FIELD_SEP)
        if len(fields) != 5 + len(trailer_keys):
            raise ValueError(f"unexpected git log record with {len(fields)} fields: {record[:200]!r}")
        sha, date, author, subject, body, *values = fields
        trailers = {
            key: tuple(v.strip() for v in value.split(VALUE_SEP) if v.strip())
            for key, value in zip(trailer_keys, values, strict=True)
        }
        entries.append(LogEntry(sha.strip(), date, author, subject, body, trailers))
    return entries
