"""tasks.py, the Invoke layer: errors become `Exit(message, code)`, `--debug` keeps the traceback, every task's
flags parse into the right call, and `invoke up --dry-run` works from a shell on a machine without Docker."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from invoke.collection import Collection
from invoke.context import MockContext
from invoke.exceptions import Exit
from invoke.program import Program

from lab import versions
from lab.context import Context
from lab.errors import CommandFailed, Conflict, LabError, PreflightFailed
from lab.steps import lab, release
from lab.steps import ship as ship_steps

ROOT = Path(__file__).resolve().parents[2]


def _load_tasks() -> ModuleType:
    """tasks.py as invoke loads it: a top-level module named `tasks`, from the repository root."""
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tasks"] = module
    spec.loader.exec_module(module)
    return module


tasks = _load_tasks()
TASKS = (
    "cache",
    "dashboard",
    "demo-drift",
    "doctor",
    "down",
    "history",
    "promote",
    "rollback",
    "ship",
    "status",
    "sync",
    "up",
)


@pytest.fixture(autouse=True)
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings from this test only: no LAB_* from the developer's shell; state in a temporary directory."""
    for key in list(os.environ):
        if key.startswith("LAB_"):
            monkeypatch.delenv(key)
    state = tmp_path / ".lab"
    monkeypatch.setenv("LAB_STATE_DIR", str(state))
    return state


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any, str], list[dict[str, Any]]]]:
    """Replace a step function by a recorder of (ctx, args, kwargs)."""

    def record(module: Any, name: str, returns: Any = None) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []

        def fake(ctx: Context, *args: Any, **kwargs: Any) -> Any:
            calls.append({"ctx": ctx, "args": args, **kwargs})
            return returns

        monkeypatch.setattr(module, name, fake)
        return calls

    yield record


def program() -> Program:
    for name, texts in tasks._HELP.items():  # invoke consumed the help texts in an earlier parse
        getattr(tasks, name).help = dict(texts)
    return Program(namespace=Collection.from_module(tasks), name="invoke", binary="invoke")


def run(*argv: str) -> None:
    program().run(["invoke", *argv], exit=False)


# ------------------------------------------------------------------------------------------------- errors


def test_a_lab_error_becomes_exit_with_its_message_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    error = CommandFailed(["kind", "create", "cluster"], 1, "ERROR: failed to create cluster", hint="free memory")

    def fail(ctx: Context, **kw: Any) -> None:
        raise error

    monkeypatch.setattr(lab, "up", fail)
    with pytest.raises(Exit) as info:
        tasks.up(MockContext())
    assert info.value.code == 4 == error.exit_code
    assert info.value.message == error.render()
    assert "$ kind create cluster" in info.value.message and "→ free memory" in info.value.message


@pytest.mark.parametrize(
    ("flags", "valid"), [({"target": "gcp"}, "local, aws"), ({"provider": "k3d"}, "kind, minikube")]
)
def test_unknown_target_or_provider_exits_2_listing_the_valid_values(flags: dict[str, str], valid: str) -> None:
    with pytest.raises(Exit) as info:
        tasks.up(MockContext(), **flags)
    assert info.value.code == 2
    assert f"valid values: {valid}" in str(info.value.message)


def test_debug_keeps_the_original_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(ctx: Context, **kw: Any) -> None:
        raise Conflict("port 5001 on 127.0.0.1 is busy")

    monkeypatch.setattr(lab, "up", fail)
    with pytest.raises(Conflict, match="5001"):
        tasks.up(MockContext(), debug=True)
    with pytest.raises(LabError):
        tasks.status(MockContext(), provider="k3d", debug=True)


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(ctx: Context, **kw: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "down", interrupted)
    with pytest.raises(Exit) as info:
        tasks.down(MockContext())
    assert info.value.code == 130


def test_doctor_with_problems_exits_with_the_preflight_code(recorded: Any) -> None:
    calls = recorded(lab, "doctor", False)
    with pytest.raises(Exit) as info:
        tasks.doctor(MockContext(), fix=True)
    assert info.value.code == PreflightFailed.exit_code == 15 and calls[0]["fix"] is True


# ------------------------------------------------------------------------------------------------- flags


def test_every_task_has_help_for_each_flag(capsys: pytest.CaptureFixture[str]) -> None:
    namespace = program().namespace
    assert namespace is not None
    names = sorted(namespace.task_names)
    assert names == list(TASKS)
    for name in TASKS:
        run("--help", name)
        out = capsys.readouterr().out
        options = re.findall(r"^\s+(-\w(?: \w+)?, )?(--(?:\[no-\])?[\w-]+)(=\w+)?(.*)$", out, re.M)
        params = [p for p in inspect.signature(getattr(tasks, name.replace("-", "_")).body).parameters if p != "c"]
        assert len(options) == len(params), f"{name}: {params}\n{out}"
        assert all(text.strip() for *_, text in options), f"a flag of {name} has no help:\n{out}"


def test_help_after_a_task_with_a_positional_argument_shows_help(
    recorded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = recorded(lab, "sync")
    run("sync", "--help")
    assert calls == [], "`invoke sync --help` must not run sync with env='--help' (pyinvoke/invoke#982)"
    out = capsys.readouterr().out
    assert "--env=STRING" in out and "environment: dev, staging or prod" in out
    run("history", "-h")
    assert "how many deploys to show" in capsys.readouterr().out


def test_up_flags(recorded: Any) -> None:
    calls = recorded(lab, "up")
    run("up", "--dry-run", "--no-fix", "--offline", "--force", "--provider", "minikube")
    [call] = calls
    ctx: Context = call["ctx"]
    assert ctx.dry_run and ctx.settings.offline and ctx.settings.provider == "minikube"
    assert call["fix"] is False and call["force"] is True
    run("up")
    assert calls[1]["fix"] is True and calls[1]["force"] is False and not calls[1]["ctx"].dry_run


def test_down_flags(recorded: Any) -> None:
    calls = recorded(lab, "down")
    run("down", "--purge", "--no-keep-cache", "--dry-run")
    assert (calls[0]["purge"], calls[0]["keep_cache"], calls[0]["ctx"].dry_run) == (True, False, True)


def test_target_aws_goes_to_the_aws_steps(recorded: Any) -> None:
    ups, up_aws = recorded(lab, "up"), recorded(lab, "up_aws")
    downs, down_aws = recorded(lab, "down"), recorded(lab, "down_aws")
    run("up", "--target", "aws", "--plan")
    run("up", "--target", "aws", "--i-understand-this-costs-money", "--yes")
    run("down", "--target", "aws", "--yes")
    assert ups == [] and downs == []
    assert (up_aws[0]["plan"], up_aws[0]["allow_real_aws"], up_aws[0]["yes"]) == (True, False, False)
    assert (up_aws[1]["plan"], up_aws[1]["allow_real_aws"], up_aws[1]["yes"]) == (False, True, True)
    assert down_aws[0]["yes"] is True and down_aws[0]["ctx"].settings.target == "aws"


def test_demo_drift_flags(recorded: Any) -> None:
    from lab.steps import drift

    demos = recorded(drift, "demo_drift")
    run("demo-drift")
    run("demo-drift", "--env", "staging", "--change", "delete", "--heal", "--observe", "5", "--dry-run")
    assert demos[0]["args"] == ("dev", "scale") and demos[0]["heal"] is False and not demos[0]["ctx"].dry_run
    assert demos[1]["args"] == ("staging", "delete") and demos[1]["heal"] is True and demos[1]["observe"] == 5.0
    assert demos[1]["ctx"].dry_run


def test_release_task_flags(recorded: Any) -> None:
    syncs = recorded(lab, "sync")
    promotes = recorded(release, "promote")
    rollbacks = recorded(release, "rollback")
    histories = recorded(release, "history")
    ships = recorded(ship_steps, "ship")

    run("sync", "staging", "--yes")
    run("sync", "--env", "prod")
    assert [(c["args"], c["yes"]) for c in syncs] == [(("staging",), True), (("prod",), False)]
    run("promote", "--from", "staging", "--to", "prod")
    assert promotes[0]["args"] == ("staging", "prod") and promotes[0]["watcher"] is not None
    run("promote", "--dry-run")
    assert promotes[1]["args"] == ("dev", "staging") and promotes[1]["ctx"].dry_run
    # A dry run gets the watcher too: the steps that would ask Argo CD are then shown as skipped, as in the real run.
    assert promotes[1]["watcher"] is not None
    run("rollback", "prod", "--to", "abc1234", "--no-wait")
    assert rollbacks[0]["args"] == ("prod", "abc1234") and rollbacks[0]["no_wait"] is True
    assert rollbacks[0]["watcher"] is not None, "rollback --no-wait still refreshes Argo CD, as ship --no-wait does"
    run("history", "dev", "--limit", "5")
    assert histories[0]["args"] == ("dev",) and histories[0]["limit"] == 5
    run("ship", "--no-wait", "--allow-dirty", "--pin-digest", "--registry", "ecr")
    [s] = ships
    assert (s["no_wait"], s["allow_dirty"], s["pin_digest"]) == (True, True, True)
    assert s["ctx"].settings.push_registry == "ecr"


def test_status_dashboard_cache_doctor_flags(recorded: Any) -> None:
    statuses = recorded(lab, "status", True)
    dashboards = recorded(lab, "dashboard", "http://127.0.0.1:8080")
    caches = recorded(lab, "cache", [])
    doctors = recorded(lab, "doctor", True)
    run("status", "--provider", "minikube")
    run("dashboard", "--dry-run")
    run("cache", "--dry-run")
    run("doctor", "--fix", "--provider", "minikube")
    assert statuses[0]["ctx"].settings.provider == "minikube"
    assert dashboards[0]["ctx"].dry_run and callable(dashboards[0]["start_port_forward"])
    assert caches[0]["ctx"].dry_run
    assert doctors[0]["fix"] is True and doctors[0]["ctx"].settings.provider == "minikube"


# ------------------------------------------------------------------------------------------------- a real shell


def invoke(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invoke_list_and_help_from_the_repo_root() -> None:
    listed = invoke("--list")
    assert listed.returncode == 0, listed.stderr
    assert re.findall(r"^  (\S+)", listed.stdout, re.M) == list(TASKS)
    helped = invoke("--help", "up")
    assert helped.returncode == 0 and "--[no-]fix" in helped.stdout and "--dry-run" in helped.stdout


def test_invoke_up_dry_run_needs_no_docker(tmp_path: Path, lab_env: Path) -> None:
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "docker").exists()]
    # git stays: the dry run works on a scratch copy of the GitOps repo with it (often next to docker in /usr/bin).
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    path.append(str(tools))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env.update(PATH=os.pathsep.join(path), LAB_STATE_DIR=str(lab_env), COLUMNS="120")
    res = invoke("up", "--dry-run", env=env)
    assert res.returncode == 0, res.stderr
    assert not lab_env.exists(), "a dry run writes nothing"
    out = res.stdout
    kind_config = re.search(r"^# --- \S*kind-config\.yaml ---\n(.*?)\n\n", out, re.M | re.S)
    assert kind_config, out
    config = yaml.safe_load(kind_config.group(1))
    assert config["nodes"][0]["image"] == versions.KIND_NODE_IMAGE
    assert {m["hostPort"] for m in config["nodes"][0]["extraPortMappings"]} == {8080, 8081, 8082, 8083}
    blocks = re.findall(r"^\$ \S*kubectl [^\n]*apply --server-side[^\n]*\n  <<'EOF'\n(.*?)\nEOF$", out, re.M | re.S)
    apps = [d for d in yaml.safe_load_all(blocks[-1]) if d and d["kind"] == "Application"]
    assert [a["metadata"]["name"] for a in apps] == ["lab-dev", "lab-staging", "lab-prod"]
    # What it does not run it says so, never ✓: the preflight is skipped (doctor runs it), kind is not installed
    # here (none on PATH, none under .lab) so it shows the download `up` would make.
    assert " – Preflight checks (invoke doctor) — skipped (dry run: not run; `invoke doctor` runs them)" in res.stderr
    assert "✓ Preflight" not in res.stderr and re.search(r"│ – +│ Preflight checks \(invoke doctor\) \(skipped", out)
    assert f"would download https://kind.sigs.k8s.io/dl/{versions.KIND_VERSION}/kind-" in res.stderr
    assert out.count("$ docker run -d") == 3
