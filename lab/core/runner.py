"""The only place that starts processes. Every command is an argv list, never a shell string.

Steps receive a Runner; tests inject a fake that scripts outputs by argv and records calls
(tests/fakes.py). DryRunRunner prints each command instead of running it: for a learning lab the
exact commands are a lesson in themselves.

A dry run is the real code path run against DryRunRunner, not a description written beside it. What only reads
(`git show`, `kubectl kustomize`, `kubectl diff`, `docker image inspect`, `kind version`), and work on a dry run's
own scratch copies in a temporary directory, runs for real through ``for_reading(runner)``, so that the plan starts
from what exists; everything else is printed and answered with empty success.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from lab.core.errors import CommandFailed, ToolNotFound


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner(Protocol):
    dry_run: bool

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result: ...


# Environment variables whose values a printed command shows as <redacted> (a git password handed to a credential
# helper, tokens): a dry run shows that the variable is set, never its value.
SECRET_ENV_SUFFIXES = ("PASSWORD", "TOKEN", "SECRET", "SECRET_ACCESS_KEY")


def _shown(key: str, value: str) -> str:
    return "<redacted>" if key.upper().endswith(SECRET_ENV_SUFFIXES) and value else value


def _merged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


@dataclass
class SubprocessRunner:
    """Runs commands for real. ``check`` raises CommandFailed with the stderr tail and a hint."""

    dry_run: bool = False
    echo: TextIO | None = None  # with --debug, every command is echoed here before it runs

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result:
        args = [str(a) for a in argv]
        if self.echo is not None:
            print(f"  $ {shlex.join(args)}", file=self.echo)
        try:
            proc = subprocess.run(
                args,
                env=_merged_env(env),
                input=input,
                capture_output=True,
                text=True,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ToolNotFound(args[0], hint=hint or "run `invoke doctor` to see what is missing") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(args, -1, f"timed out after {timeout}s", hint=hint) from exc
        result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise CommandFailed(args, proc.returncode, proc.stderr or proc.stdout, hint=hint)
        return result


@dataclass
class DryRunRunner:
    """Prints each command (with its stdin, if any) and returns success with empty output.

    Steps read empty output as "nothing exists yet". Commands that only read go to ``reads`` instead (see
    for_reading), so that where a step asks what exists, the plan is computed from the answer.
    """

    out: TextIO = field(default_factory=lambda: sys.stdout)
    dry_run: bool = True
    calls: list[tuple[str, ...]] = field(default_factory=list)
    reads: Runner = field(default_factory=SubprocessRunner)  # what for_reading() hands out: runs for real

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result:
        args = tuple(str(a) for a in argv)
        self.calls.append(args)
        prefix = " ".join(f"{k}={shlex.quote(_shown(k, v))}" for k, v in (env or {}).items())
        where = f"(cd {shlex.quote(str(cwd))} && " if cwd else ""
        line = (prefix + " " if prefix else "") + shlex.join(args)
        print(f"$ {where}{line}{')' if cwd else ''}", file=self.out)
        if input:
            print("  <<'EOF'\n" + input.rstrip("\n") + "\nEOF", file=self.out)
        return Result(args, 0, "", "")


def for_reading(runner: Runner) -> Runner:
    """The runner for a command that changes nothing outside a dry run's own temporary directory: RUNNER itself, or
    in a dry run the real runner the dry run holds (DryRunRunner.reads; a plain SubprocessRunner for another dry-run
    runner). Only for reads and for work on scratch copies: never for a command that changes anything else."""
    if not runner.dry_run:
        return runner
    reads = getattr(runner, "reads", None)
    return reads if reads is not None else SubprocessRunner()


def foreground(argv: Sequence[str]) -> int:
    """Run a long-lived command attached to the terminal (e.g. `kubectl port-forward`) until it exits or the user
    presses Ctrl-C; the child is stopped (by its PID) when we leave. Returns its exit code."""
    proc = subprocess.Popen([str(a) for a in argv])
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
