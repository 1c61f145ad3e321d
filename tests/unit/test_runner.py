"""The runner: argv lists, errors that carry the command and stderr tail, dry runs that print and do nothing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from lab.core.errors import CommandFailed, ToolNotFound
from lab.core.runner import DryRunRunner, SubprocessRunner, foreground


def test_a_failing_command_raises_with_the_command_code_and_stderr_tail() -> None:
    script = "import sys\nfor i in range(30): print(f'line {i}', file=sys.stderr)\nsys.exit(7)"
    with pytest.raises(CommandFailed) as info:
        SubprocessRunner().run([sys.executable, "-c", script], hint="try again")
    err = info.value
    assert err.code == 7 and err.argv[0] == sys.executable and err.exit_code == 4
    assert err.stderr_tail.splitlines() == [f"line {i}" for i in range(18, 30)], "the last 12 lines"
    text = err.render()
    assert "$ " + sys.executable in text and "exit code 7" in text and "| line 29" in text and "→ try again" in text


def test_check_false_returns_the_result_and_input_reaches_stdin(tmp_path: Path) -> None:
    res = SubprocessRunner().run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper()); sys.exit(3)"],
        input="hello",
        check=False,
        cwd=tmp_path,
    )
    assert (res.returncode, res.stdout.strip(), res.ok) == (3, "HELLO", False)


def test_a_missing_program_is_tool_not_found() -> None:
    with pytest.raises(ToolNotFound, match="no-such-tool-here"):
        SubprocessRunner().run(["no-such-tool-here", "--version"])


def test_a_dry_run_prints_the_command_and_its_stdin_and_runs_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    marker = tmp_path / "ran"
    runner = DryRunRunner(out=out)
    res = runner.run(["touch", str(marker)], env={"A": "b c"}, input="data\n")
    assert res.ok and res.stdout == "" and not marker.exists()
    assert out.getvalue() == f"$ A='b c' touch {marker}\n  <<'EOF'\ndata\nEOF\n"


def test_foreground_returns_the_exit_code() -> None:
    assert foreground([sys.executable, "-c", "raise SystemExit(5)"]) == 5
