"""docs/tutorial.md's ship example works as written: its edit of app/ passes the quality gate `invoke ship` runs.

The edit (the ```diff block of "## 2. Ship a change") is applied to a copy of the repository's tracked files, and
the gate's own commands (lab.steps.ship.default_gate: the app's unit tests and ruff) run there, as ship runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.core.config import ROOT
from lab.steps import ship

pytestmark = pytest.mark.integration  # runs the tutorial's example in a real git repo (tests/tiers.py)

TUTORIAL = ROOT / "docs" / "tutorial.md"


def ship_section() -> str:
    text = TUTORIAL.read_text()
    start = text.index("## 2. Ship a change")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def tutorial_edit() -> tuple[str, list[str], list[str]]:
    """(file, removed lines, added lines) of the tutorial's ```diff block, and the file its text names."""
    section = ship_section()
    match = re.search(r"in `(app/[\w/.]+)`\.\n\n```diff\n(.*?)```", section, re.DOTALL)
    assert match, f"no ```diff block after a file name in the ship section of {TUTORIAL}"
    lines = match.group(2).splitlines()
    removed = [line[1:] for line in lines if line.startswith("-")]
    added = [line[1:] for line in lines if line.startswith("+")]
    assert removed and added and len(removed) + len(added) == len(lines)
    return match.group(1), removed, added


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository's tracked files as they are in the work tree (what a learner has after cloning)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    copy = tmp_path / "repo"
    for name in filter(None, out.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def gate_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LAB_") and k != "PYTHONPATH"}


def test_the_tutorials_ship_example_passes_the_quality_gate(repo_copy: Path) -> None:
    path, removed, added = tutorial_edit()
    target = repo_copy / path
    source = target.read_text()
    old, new = "\n".join(removed) + "\n", "\n".join(added) + "\n"
    assert source.count(old) == 1, f"{path} does not contain the tutorial's line(s) to change:\n{old}"
    target.write_text(source.replace(old, new))

    # The gate imports the copy's app (its directory comes first on sys.path), with the new name in it.
    probe = "import app.factory as f; print(f.__file__); print(f.SERVICE_NAME)"
    seen = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_copy, env=gate_env(), capture_output=True, text=True, timeout=60
    )
    file, name = seen.stdout.splitlines()
    assert Path(file).is_relative_to(repo_copy) and f'SERVICE_NAME = "{name}"' in added, seen

    for argv in ship.default_gate():
        res = subprocess.run(list(argv), cwd=repo_copy, env=gate_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"the gate refuses the tutorial's edit: {argv}\n{res.stdout[-3000:]}{res.stderr}"


def metrics_commands() -> list[str]:
    """The commands of the ```sh block in "## 6. Measure your delivery" (comments stripped)."""
    text = TUTORIAL.read_text()
    start = text.index("## 6. Measure your delivery")
    section = text[start : text.index("\n## ", start + 1)]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, f"no ```sh block in the metrics section of {TUTORIAL}"
    return [line.split("#", 1)[0].strip() for line in match.group(1).splitlines() if line.strip()]


def test_the_tutorials_metrics_commands_work_on_a_real_history(tmp_path: Path) -> None:
    """Each `invoke metrics` command of the tutorial, from a shell, on a GitOps history the lab's own code made:
    two deploys of this project's HEAD and a rollback (which the tutorial says counts as a failed deploy)."""
    import io
    import json
    import shlex

    from lab.core.config import load_settings
    from lab.core.context import Context
    from lab.core.runner import SubprocessRunner
    from lab.core.ui import UI
    from lab.gitops.overlay import ImageSpec
    from lab.steps import release

    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True, timeout=60)
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "x.toml"
    )
    ctx = Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))
    repo = ship.gitops_repo(ctx, app_root=ROOT)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    for tag in ("t1", "t2"):
        repo.bump("dev", ImageSpec("localhost:5001/lab-app", tag), app_commit=head.stdout.strip())
    release.rollback(ctx, "dev", no_wait=True, lookup_digest=lambda host, name, tag: "sha256:" + "0" * 64, repo=repo)

    env = {k: v for k, v in gate_env().items() if k != "KUBECONFIG"}
    env.update(LAB_STATE_DIR=str(tmp_path / "state"), LAB_GITOPS_REMOTE=str(remote), KUBECONFIG=str(tmp_path / "none"))
    commands = metrics_commands()
    assert commands and all(c.startswith("invoke metrics") for c in commands), commands
    for command in commands:
        argv = [sys.executable, "-m", "invoke", "-r", str(ROOT), *shlex.split(command)[1:]]
        res = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"{command}:\n{res.stdout}\n{res.stderr}"
        assert "the figures come from git" in res.stderr
        if "--json" in command:
            dev = json.loads(res.stdout)["dev"]
            assert dev["deployments"] == 2 and dev["rollbacks"] == 1 and dev["change_failure_rate"] == 0.5
        if "--html" in command:
            page = (tmp_path / "metrics.html").read_text()
            assert "<svg" in page and "<script" not in page
