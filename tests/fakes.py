"""A fake Runner for unit tests, in the spirit of ctlptl's fake exec: script outputs by argv prefix,
record every call, and print every recorded command when an assertion about them fails."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.core.errors import CommandFailed, ToolNotFound
from lab.core.runner import Result

Responder = Callable[[tuple[str, ...], str | None], Result | None]


@dataclass
class Call:
    argv: tuple[str, ...]
    input: str | None
    env: dict[str, str] | None
    cwd: str | None

    def __str__(self) -> str:
        return shlex.join(self.argv)


@dataclass
class FakeRunner:
    """Scripted responses keyed by argv prefix. Unscripted commands succeed with empty output.

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
        return Result(args, 0, "", "")

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


@dataclass
class Clock:
    """A monotonic clock that only moves when something sleeps: pass it as ``clock`` and ``clock.sleep``."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Bind:
    """A bind mount as the kernel keeps it: the host directory it was made from (held open), not its path. After
    the path is removed and made again, a container still reads the old directory through it, as Docker's do."""

    source: str
    target: str
    fd: int

    @classmethod
    def mount(cls, spec: str) -> Bind | None:
        """From `docker run -v SRC:DST[:ro]`; None for a named volume or a single file."""
        source, target = spec.split(":")[:2]
        if not os.path.isabs(source) or not os.path.isdir(source):
            return None
        return cls(source, target, os.open(source, os.O_RDONLY))

    def remount(self) -> Bind:
        """What `docker start` does: mount the path afresh."""
        return Bind(self.source, self.target, os.open(self.source, os.O_RDONLY))

    def current(self) -> bool:
        """True when the path still names the directory this mount holds."""
        held = os.fstat(self.fd)
        try:
            now = os.stat(self.source)
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)

    def read(self, path: str) -> str | None:
        """PATH (inside the container) read through the held directory; None if it is not there."""
        if not path.startswith(self.target.rstrip("/") + "/"):
            return None
        relative = path[len(self.target.rstrip("/")) + 1 :]
        try:
            fd = os.open(relative, os.O_RDONLY, dir_fd=self.fd)
        except OSError:
            return None
        with os.fdopen(fd) as f:
            return f.read()


def read_through(binds: Sequence[Bind], path: str) -> str | None:
    """`cat PATH` in a container with these bind mounts (None: "No such file or directory")."""
    for bind in binds:
        found = bind.read(path)
        if found is not None:
            return found
    return None
