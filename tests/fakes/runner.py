"""A fake Runner for unit tests, in the spirit of ctlptl's fake exec: script outputs by argv prefix,
record every call, and print every recorded command when an assertion about them fails.

Strict: a command nothing scripted (no script/script_once prefix, no responder) raises UnscriptedCommand, naming
the argv and the scripted prefixes, so a test states every command it expects. ``unscripted_succeeds=True`` is the
per-runner opt-out and ``@pytest.mark.unscripted_commands_succeed`` the per-test one (an unscripted command answers
exit 0 with no output): only for tests not yet scripted command by command. A dry-run FakeRunner
(``dry_run=True``) answers unscripted commands like DryRunRunner does, with empty success: what a dry run does.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.core.errors import CommandFailed, ToolNotFound
from lab.core.runner import Result

Responder = Callable[[tuple[str, ...], str | None], Result | None]
# Set by the `unscripted_commands_succeed` marker (tests/fakes/plugin.py) for the one test that carries it.
UNSCRIPTED_SUCCEED_DEFAULT = False


@dataclass
class Call:
    argv: tuple[str, ...]
    input: str | None
    env: dict[str, str] | None
    cwd: str | None

    def __str__(self) -> str:
        return shlex.join(self.argv)


class UnscriptedCommand(AssertionError):
    """A FakeRunner was asked to run a command the test did not script."""

    def __init__(self, argv: Sequence[str], scripted: Sequence[str]) -> None:
        self.argv = tuple(argv)
        listed = "\n".join(f"    {p}" for p in scripted) or "    (nothing)"
        super().__init__(
            f"unscripted command: {shlex.join(self.argv)}\n  scripted prefixes:\n{listed}\n"
            "  script it (runner.script(prefix, stdout=...)) with what the real command answers"
        )


@dataclass
class FakeRunner:
    """Scripted responses keyed by argv prefix. An unscripted command raises UnscriptedCommand (module docstring).

    ``script(prefix, stdout=..., returncode=...)`` answers every later call whose argv starts with
    ``prefix``; ``script_once`` answers only the next one (sequences of answers are queued in order).
    ``responders`` are functions that may compute a Result from the argv (stateful fakes).
    """

    dry_run: bool = False
    calls: list[Call] = field(default_factory=list)
    _always: list[tuple[tuple[str, ...], Result]] = field(default_factory=list)
    _once: list[tuple[tuple[str, ...], Result]] = field(default_factory=list)
    responders: list[Responder] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # executables "not on PATH": ToolNotFound, as SubprocessRunner
    # The opt-out of strictness (module docstring); a test marked unscripted_commands_succeed gets it by default.
    unscripted_succeeds: bool = field(default_factory=lambda: UNSCRIPTED_SUCCEED_DEFAULT)

    def script(self, prefix: Sequence[str], stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        self._always.insert(0, (tuple(prefix), Result(tuple(prefix), returncode, stdout, stderr)))

    def script_once(self, prefix: Sequence[str], stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        self._once.append((tuple(prefix), Result(tuple(prefix), returncode, stdout, stderr)))

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
        self.calls.append(Call(args, input, dict(env) if env else None, str(cwd) if cwd else None))
        if Path(args[0]).name in self.missing:
            raise ToolNotFound(args[0], hint=hint or "run `invoke doctor` to see what is missing")
        result = self._answer(args, input)
        result = Result(args, result.returncode, result.stdout, result.stderr)
        if check and result.returncode != 0:
            raise CommandFailed(args, result.returncode, result.stderr, hint=hint)
        return result

    def _answer(self, args: tuple[str, ...], input: str | None) -> Result:
        for i, (prefix, res) in enumerate(self._once):
            if args[: len(prefix)] == prefix:
                del self._once[i]
                return res
        for responder in self.responders:
            res = responder(args, input)
            if res is not None:
                return res
        for prefix, res in self._always:
            if args[: len(prefix)] == prefix:
                return res
        if self.dry_run or self.unscripted_succeeds:
            return Result(args, 0, "", "")
        raise UnscriptedCommand(args, self.scripted())

    def scripted(self) -> list[str]:
        """The prefixes scripted so far (once-only ones marked), and the responders, for UnscriptedCommand."""
        out = [shlex.join(prefix) for prefix, _ in self._always]
        out += [f"{shlex.join(prefix)} (once)" for prefix, _ in self._once]
        out += [f"responder {getattr(r, '__qualname__', repr(r))}" for r in self.responders]
        return out

    # Assertions ------------------------------------------------------------------------------------
    @property
    def commands(self) -> list[str]:
        return [str(c) for c in self.calls]

    def dump(self) -> str:
        return "recorded commands:\n" + "\n".join(f"  {i:3d}  {c}" for i, c in enumerate(self.calls))

    def find(self, *prefix: str) -> list[Call]:
        return [c for c in self.calls if c.argv[: len(prefix)] == prefix]

    def assert_called(self, *prefix: str) -> Call:
        found = self.find(*prefix)
        assert found, f"expected a call starting with {shlex.join(prefix)}\n{self.dump()}"
        return found[0]

    def assert_not_called(self, *prefix: str) -> None:
        found = self.find(*prefix)
        assert not found, f"unexpected call {found[0]}\n{self.dump()}"

    def index(self, *prefix: str, start: int = 0) -> int:
        """The position of the first call from START on whose argv starts with PREFIX."""
        for i, c in enumerate(self.calls[start:], start):
            if c.argv[: len(prefix)] == prefix:
                return i
        after = f" after call {start}" if start else ""
        raise AssertionError(f"no call starting with {shlex.join(prefix)}{after}\n{self.dump()}")
