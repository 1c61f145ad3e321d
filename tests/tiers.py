"""The test tiers, and the guard that keeps real tools out of the unit tier.

- no mark: unit. Fakes only (tests/fakes/runner.py FakeRunner): no git, kubectl, docker or kind process. `make unit`.
- ``integration``: real git, real ``kubectl kustomize`` and other real processes that cost seconds (gunicorn,
  shellcheck, MiniStack, pytest or invoke as a process), no Docker. `make integration`.
- ``docker``: a real Docker engine (and the tools above). `make integration`.
- ``e2e``: a real cluster with the lab up. `make e2e`.

`make test` runs all of them. The guard patches ``subprocess.Popen.__init__`` for the duration of one unit test, so
it sees every process the test starts in this interpreter, through lab.core.runner or not; it cannot see what a child
process starts in turn (a unit test that runs a child Python which runs git is not caught).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import pytest

TIER_MARKS = ("integration", "docker", "e2e")
# Fixtures that start a real server process: a test using one is an integration test (seconds, not milliseconds),
# marked at collection (pytest_collection_modifyitems in tests/conftest.py).
PROCESS_FIXTURES = {"start_gunicorn": "integration"}
# Programs a unit test may not start (by the name of the executable, wherever it lives).
REAL_TOOLS = frozenset({"git", "kubectl", "kustomize", "docker", "kind", "minikube"})


def tier_of(item: pytest.Item) -> str:
    """ "integration", "docker", "e2e" (the first mark the test carries, closest first), else "unit"."""
    return next((m for m in TIER_MARKS if item.get_closest_marker(m) is not None), "unit")


def program(args: Any, *, executable: Any = None, shell: bool = False) -> str:
    """The name of the program a Popen(ARGS, executable=..., shell=...) call starts ("" if unknown)."""
    if executable:
        target: Any = executable
    elif isinstance(args, str | bytes | os.PathLike):
        text = os.fsdecode(args)
        target = (shlex.split(text) or [""])[0] if shell else text
    elif isinstance(args, Sequence) and args:
        target = args[0]
    else:
        return ""
    try:
        return os.path.basename(os.fsdecode(target))
    except TypeError:
        return ""


def refusal(nodeid: str, argv: Any) -> str:
    shown = shlex.join(str(a) for a in argv) if isinstance(argv, Sequence) and not isinstance(argv, str) else argv
    return (
        f"{nodeid} started `{shown}`: a unit test starts no {', '.join(sorted(REAL_TOOLS))} (the unit tier is"
        " `make unit`, seconds). Fake the tool (tests/fakes/runner.py FakeRunner scripts outputs by argv), or mark"
        " the test `@pytest.mark.integration` (real git / kubectl kustomize, no Docker) or `@pytest.mark.docker`: those"
        " run in `make integration` and `make test`."
    )


@contextlib.contextmanager
def refuse_real_tools(nodeid: str) -> Iterator[list[str]]:
    """While inside: starting one of REAL_TOOLS raises PermissionError with the refusal, which is also appended to
    the yielded list (so that code swallowing the error still fails the test)."""
    refused: list[str] = []
    real_init = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
        executable = kw.get("executable", rest[1] if len(rest) > 1 else None)
        if program(args, executable=executable, shell=bool(kw.get("shell", False))) in REAL_TOOLS:
            message = refusal(nodeid, args)
            refused.append(message)
            raise PermissionError(message)
        real_init(self, args, *rest, **kw)

    subprocess.Popen.__init__ = guarded  # type: ignore[method-assign]
    try:
        yield refused
    finally:
        subprocess.Popen.__init__ = real_init  # type: ignore[method-assign]


def guard_phase(item: pytest.Item) -> Generator[None, Any, Any]:
    """The body of a hook wrapper around one test phase: for a unit test, run the phase with the real tools refused,
    then fail it if it started one (and did not fail by itself)."""
    if tier_of(item) != "unit":
        return (yield)
    with refuse_real_tools(item.nodeid) as refused:
        result = yield
    if refused:
        pytest.fail(refused[0], pytrace=False)
    return result


def mark_by_fixtures(items: Sequence[pytest.Item]) -> None:
    """Give each test that uses one of PROCESS_FIXTURES that fixture's tier mark."""
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            if name in PROCESS_FIXTURES and item.get_closest_marker(PROCESS_FIXTURES[name]) is None:
                item.add_marker(PROCESS_FIXTURES[name])
