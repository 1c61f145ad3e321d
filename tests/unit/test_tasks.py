"""tasks.py, the Invoke layer: errors become `Exit(message, code)`, `--debug` keeps the traceback, every task's
flags parse into the right call, and `invoke up --dry-run` works from a shell on a machine without Docker."""

from __future__ import annotations

import importlib.util
import inspect
import io
import json
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

from lab.core import versions
from lab.core.context import Context
from lab.core.errors import CommandFailed, Conflict, LabError, PreflightFailed, Refused
from lab.steps import lab, release
from lab.steps import ship as ship_steps
from lab.steps import up as up_steps

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
    "demo-bad-release",
    "demo-drift",
    "demo-netpol",
    "doctor",
    "down",
    "history",
    "metrics",
    "notifications",
    "promote",
    "rollback",
    "secret",
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


def exit_code(*argv: str) -> int:
    """Run a command line as the `invoke` binary does (exiting), and return its exit code."""
    try:
        program().run(["invoke", *argv])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


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


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({"LAB_REGISTRY_PORT": "3000"}, ("up",), "settings registry_port = 3000 (from environment variable"),
        ({"LAB_ARGOCD_PORT": "8082"}, ("up",), "argocd_port = 8082 (from environment variable LAB_ARGOCD_PORT)"),
        ({"LAB_REGISTRY": "http://x"}, ("up",), "registry = 'http://x' (from environment variable LAB_REGISTRY)"),
        ({"LAB_CLUSTER_NAME": "Lab"}, ("up",), "cluster_name = 'Lab' (from environment variable LAB_CLUSTER_NAME)"),
        ({}, ("ship", "--registry", "gcr"), "push_registry = 'gcr' (from flag --registry)"),
    ],
)
def test_a_bad_setting_exits_2_before_anything_is_created(
    recorded: Any,
    lab_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    steps = [recorded(lab, "up"), recorded(ship_steps, "ship")]
    assert exit_code(*argv) == 2
    assert message in capsys.readouterr().err
    assert steps == [[], []] and not lab_env.exists()


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


def test_no_task_gives_the_help_flag_to_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-h` is invoke's help flag: `invoke demo-drift -h` must show help, never run the demo as `--heal`."""
    namespace = program().namespace
    assert namespace is not None
    for name in TASKS:
        flags = [n for arg in namespace[name].get_arguments() for n in arg.names]
        assert "h" not in flags, f"{name} gives -h to one of its flags: {flags}"
    ran: list[str] = []

    def must_not_run(**kwargs: Any) -> Context:
        ran.append(str(kwargs))
        raise AssertionError("the task ran instead of showing its help")

    monkeypatch.setattr(tasks, "make_context", must_not_run)
    for name in TASKS:
        run(name, "-h")
        out = capsys.readouterr().out
        assert f"Usage: invoke [--core-opts] {name}" in out, f"`invoke {name} -h` shows no help:\n{out}"
        assert "--debug" in out
    assert ran == []


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


def test_demo_bad_release_flags(recorded: Any) -> None:
    from lab.steps import bad_release

    demos = recorded(bad_release, "demo_bad_release")
    run("demo-bad-release")
    run("demo-bad-release", "--route", "/version", "--no-wait", "--dry-run")
    assert demos[0]["args"] == ("/api/v1/items",) and demos[0]["no_wait"] is False and not demos[0]["ctx"].dry_run
    assert demos[0]["watcher"] is not None
    assert demos[1]["args"] == ("/version",) and demos[1]["no_wait"] is True and demos[1]["ctx"].dry_run


def test_demo_netpol_flags(recorded: Any) -> None:
    from lab.steps import netpol

    demos = recorded(netpol, "demo_netpol")
    run("demo-netpol")
    run("demo-netpol", "--env", "staging", "--dry-run")
    assert demos[0]["args"] == ("dev",) and demos[0]["watcher"] is not None and not demos[0]["ctx"].dry_run
    assert demos[1]["args"] == ("staging",) and demos[1]["watcher"] is None and demos[1]["ctx"].dry_run
    assert exit_code("demo-netpol", "--env", "qa") == 2 and len(demos) == 2  # an unknown env runs nothing


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


@pytest.mark.parametrize("to", ["", " ", "\t"])
def test_rollback_to_an_empty_commit_is_refused(recorded: Any, capsys: pytest.CaptureFixture[str], to: str) -> None:
    """`--to ''` is not "no --to": it must not undo the last deploy and push."""
    rollbacks = recorded(release, "rollback")
    assert exit_code("rollback", "dev", "--to", to) == 2
    assert rollbacks == []
    err = capsys.readouterr().err
    assert "--to is empty" in err and "invoke history dev" in err


@pytest.mark.parametrize(
    ("argv", "step", "message"),
    [
        (("history", "dev", "--limit", "abc"), "history", "--limit: 'abc' is not a whole number"),
        (("history", "dev", "--limit", "2.5"), "history", "--limit: '2.5' is not a whole number"),
        (("history", "dev", "--limit", "0"), "history", "--limit must be at least 1, got 0"),
        (("history", "dev", "-l", "-3"), "history", "--limit must be at least 1, got -3"),
        (("demo-drift", "--observe", "soon"), "demo_drift", "--observe: 'soon' is not a number"),
        (("demo-drift", "--observe", "-5"), "demo_drift", "--observe must be 0 or more seconds, got -5"),
        (("demo-drift", "--observe", "nan"), "demo_drift", "--observe must be 0 or more seconds, got nan"),
    ],
)
def test_a_number_flag_that_is_not_one_exits_2_without_a_traceback(
    recorded: Any, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], step: str, message: str
) -> None:
    from lab.steps import drift

    calls = recorded(drift if step == "demo_drift" else release, step)
    assert exit_code(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert calls == []


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


# ------------------------------------------------------------------------------------------------- remembered choices


def remembered_file(state: Path) -> dict[str, str] | None:
    path = state / "settings.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_a_refused_up_remembers_nothing(lab_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up --target aws` without the opt-in is refused: later tasks must not follow target aws."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")  # no AWS call is made: refused before any
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    assert exit_code("up", "--target", "aws") == Refused.exit_code
    assert remembered_file(lab_env) is None

    def preflight_fails(ctx: Context, probes: Any, *, fix: bool = False) -> None:
        raise PreflightFailed("docker: not answering", hint="start Docker")

    monkeypatch.setattr(up_steps, "_preflight", preflight_fails)
    assert exit_code("up", "--provider", "minikube") == PreflightFailed.exit_code
    assert remembered_file(lab_env) is None
    assert tasks.make_context().settings.provider == "kind"


def test_up_remembers_its_choices_once_past_its_checks(lab_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the preflight `up` starts creating things: a later failure leaves them to `down`, which must find
    them with the same provider and cluster."""
    from lab.components import services

    def fails(ctx: Context, **kwargs: Any) -> None:
        assert remembered_file(lab_env) == {"target": "local", "provider": "minikube", "cluster_name": "mk"}
        raise CommandFailed(["docker", "build", "."], 1, "no space left on device")

    monkeypatch.setattr(up_steps, "_preflight", lambda ctx, probes, *, fix=False: None)
    monkeypatch.setattr(services, "build_service_images", fails)
    monkeypatch.setenv("LAB_CLUSTER_NAME", "mk")
    assert exit_code("up", "--provider", "minikube") == CommandFailed.exit_code
    assert remembered_file(lab_env) == {"target": "local", "provider": "minikube", "cluster_name": "mk"}


def test_status_says_which_remembered_settings_are_in_force_and_how_to_forget_them(
    lab_env: Path, recorded: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = recorded(lab, "status", True)
    ups = recorded(lab, "up")
    run("up", "--provider", "minikube")
    assert len(ups) == 1 and remembered_file(lab_env) == {
        "target": "local",
        "provider": "minikube",
        "cluster_name": "gitops-lab",
    }
    capsys.readouterr()
    run("status")
    err = capsys.readouterr().err
    path = lab_env / "settings.json"
    assert (
        f"Remembered by the last `invoke up` ({path}): target=local, provider=minikube, cluster_name=gitops-lab" in err
    )
    assert f"forget them: rm {path}" in err
    assert statuses[-1]["ctx"].settings.provider == "minikube"

    monkeypatch.setenv("LAB_PROVIDER", "kind")
    run("status")
    err = capsys.readouterr().err
    assert "target=local, cluster_name=gitops-lab" in err
    assert "provider=minikube is overridden by environment variable LAB_PROVIDER" in err
    assert statuses[-1]["ctx"].settings.provider == "kind"

    # The command it names (and the README's, from the project root) does forget them.
    assert "`rm .lab/settings.json` forgets them" in (ROOT / "README.md").read_text()
    subprocess.run(["rm", str(path)], check=True)
    monkeypatch.delenv("LAB_PROVIDER")
    run("status")
    assert "Remembered" not in capsys.readouterr().err
    assert statuses[-1]["ctx"].settings.provider == "kind"


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


@pytest.mark.integration  # `invoke` as a process (tests/tiers.py)
def test_invoke_list_and_help_from_the_repo_root() -> None:
    listed = invoke("--list")
    assert listed.returncode == 0, listed.stderr
    assert re.findall(r"^  (\S+)", listed.stdout, re.M) == list(TASKS)
    helped = invoke("--help", "up")
    assert helped.returncode == 0 and "--[no-]fix" in helped.stdout and "--dry-run" in helped.stdout


@pytest.mark.integration  # `invoke up --dry-run` as a process: it reads git (tests/tiers.py)
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
    assert out.count("$ docker run -d") == 4  # registry, ECR emulator, git server, notification receiver
    assert "Notifications (JSON; `invoke notifications`): http://127.0.0.1:8095/notifications" in out  # the summary


@pytest.mark.parametrize("doc", ["README.md", "docs/tutorial.md"])
def test_the_docs_say_how_to_run_invoke_before_their_first_invoke_command(doc: str) -> None:
    """`make up` installs invoke into .venv, not onto PATH: say how to run it before asking for `invoke ...`."""
    text = (ROOT / doc).read_text()
    first_command = re.search(r"^(?:invoke \w|\| `invoke \w)", text, re.M)  # a shell line or a table row
    assert first_command, f"{doc} has no invoke command line"
    before = text[: first_command.start()]
    assert "source .venv/bin/activate" in before and ".venv/bin/invoke" in before, doc


def test_make_up_says_how_to_run_the_tasks_afterwards() -> None:
    recipe = subprocess.run(["make", "-n", "up"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "source .venv/bin/activate" in recipe and ".venv/bin/invoke TASK" in recipe


def test_secret_set_takes_the_name_and_env_and_the_value_from_stdin_never_argv(
    recorded: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab.steps import secret as secret_steps

    calls = recorded(secret_steps, "set_secret")
    monkeypatch.setattr(sys, "stdin", io.StringIO("tok-from-stdin\n"))
    assert exit_code("secret", "set", "write-token", "--env", "staging") == 0
    [call] = calls
    assert call["args"] == ("write-token", "staging", b"tok-from-stdin")
    assert exit_code("secret", "get", "write-token") == 2  # the only action is set
    assert "invoke secret set write-token --env dev" in capsys.readouterr().err
