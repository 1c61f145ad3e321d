"""Settings: defaults < lab.toml < the last `up`'s choices < LAB_* environment < flags; bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.core.config import ENV_NAMES, Settings, environment, load_settings, remember_choices
from lab.core.errors import ConfigError


def load(tmp_path: Path, flags: dict[str, object] | None = None, env: dict[str, str] | None = None) -> Settings:
    return load_settings(
        {"state_dir": tmp_path / ".lab", **(flags or {})}, environ=env or {}, config_file=tmp_path / "lab.toml"
    )


def test_defaults(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert (s.target, s.provider, s.cluster_name, s.registry_port, s.emulator_port) == (
        "local",
        "kind",
        "gitops-lab",
        5001,
        4566,
    )
    assert s.registry_host == "localhost:5001" and s.kube_context == "kind-gitops-lab"
    assert s.gitops_url == "http://127.0.0.1:3000/gitops.git"
    assert s.gitops_bare_repo == tmp_path / ".lab" / "git" / "gitops.git"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('cluster_name = "from-toml"\nregistry_port = 5002\ngit-port = 3001\n')
    s = load(tmp_path)
    assert (s.cluster_name, s.registry_port, s.git_port) == ("from-toml", 5002, 3001)
    s = load(tmp_path, env={"LAB_CLUSTER_NAME": "from-env", "LAB_REGISTRY_PORT": "5003"})
    assert (s.cluster_name, s.registry_port, s.git_port) == ("from-env", 5003, 3001)
    s = load(tmp_path, flags={"cluster_name": "from-flag", "registry_port": None}, env={"LAB_CLUSTER_NAME": "from-env"})
    assert (s.cluster_name, s.registry_port) == ("from-flag", 5002), "a flag left unset (None) changes nothing"


def test_the_last_up_choices_sit_between_lab_toml_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('provider = "kind"\n')
    remember_choices(load(tmp_path, flags={"provider": "minikube", "cluster_name": "mk"}))
    s = load(tmp_path)
    assert (s.provider, s.cluster_name, s.kube_context) == ("minikube", "mk", "mk"), (
        "ship after `up --provider minikube`"
    )
    assert load(tmp_path, env={"LAB_PROVIDER": "kind"}).provider == "kind"
    assert load(tmp_path, flags={"provider": "kind"}).provider == "kind"
    (tmp_path / ".lab" / "settings.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"settings\.json"):
        load(tmp_path)


def test_the_aws_target_has_its_own_kube_context(tmp_path: Path) -> None:
    assert load(tmp_path, flags={"target": "aws"}).kube_context == "eks-gitops-lab"


@pytest.mark.parametrize(
    ("flags", "env", "message", "valid"),
    [
        ({"target": "gcp"}, {}, "setting target = 'gcp' (from flag --target): unknown target", "local, aws"),
        (
            {},
            {"LAB_PROVIDER": "k3d"},
            "setting provider = 'k3d' (from environment variable LAB_PROVIDER): unknown provider",
            "kind, minikube",
        ),
        ({"aws_emulator": "moto"}, {}, "aws_emulator = 'moto' (from flag --aws-emulator)", "ministack, localstack"),
        ({"push_registry": "gcr"}, {}, "push_registry = 'gcr' (from flag --push-registry)", "local, ecr"),
    ],
)
def test_unknown_values_are_refused_with_the_valid_ones(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], message: str, valid: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, flags=flags, env=env)
    assert message in info.value.message and valid in (info.value.hint or "")
    assert info.value.exit_code == 2


def test_a_flag_is_named_as_the_user_typed_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"push_registry = 'gcr' \(from flag --registry\)"):
        load_settings(
            {"push_registry": "gcr"},
            environ={},
            config_file=tmp_path / "lab.toml",
            flag_names={"push_registry": "--registry"},
        )


TOML = "lab.toml"
JSON = ".lab/settings.json"
ENV = "environment variable"


@pytest.mark.parametrize(
    ("toml", "env", "remembered", "message", "source", "valid"),
    [
        # lab.toml values of the wrong type: a traceback, or silently a different value, before.
        ("registry_port = [1]\n", {}, None, "registry_port = [1]", TOML, "a whole number"),
        ("registry_port = true\n", {}, None, "registry_port = True", TOML, "a whole number"),
        ("registry_port = 5001.9\n", {}, None, "registry_port = 5001.9", TOML, "a whole number"),
        ("registry_port = 5001.0\n", {}, None, "registry_port = 5001.0", TOML, "a whole number"),
        ("[registry]\nport = 1\n", {}, None, "registry = {'port': 1}", TOML, "a string"),
        ('offline = "maybe"\n', {}, None, "offline = 'maybe'", TOML, "true or false"),
        ("", {"LAB_GIT_PORT": "three thousand"}, None, "git_port = 'three thousand'", ENV, "a whole number"),
        ("", {"LAB_GIT_PORT": "3000.5"}, None, "git_port = '3000.5'", ENV, "a whole number"),
        ("", {"LAB_OFFLINE": "maybe"}, None, "offline = 'maybe'", ENV, "true or false"),
        ("registry_port = 70000\n", {}, None, "registry_port = 70000", TOML, "from 1 to 65535"),
        ("", {"LAB_ARGOCD_PORT": "0"}, None, "argocd_port = 0", ENV, "from 1 to 65535"),
        # timeouts
        ("sync_timeout = -5\n", {}, None, "sync_timeout = -5.0", TOML, "above 0"),
        ("", {"LAB_SYNC_TIMEOUT": "0"}, None, "sync_timeout = 0.0", ENV, "above 0"),
        ("", {"LAB_SYNC_TIMEOUT": "nan"}, None, "sync_timeout = nan", ENV, "above 0"),
        ("", {"LAB_SYNC_TIMEOUT": "soon"}, None, "sync_timeout = 'soon'", ENV, "a number"),
        # two components on one port, found before half an `up` has happened
        ("registry_port = 3000\n", {}, None, "registry_port = 3000", TOML, "no other component"),
        ("", {"LAB_EMULATOR_PORT": "8080"}, None, "emulator_port = 8080", ENV, "no other component"),
        ("", {"LAB_ARGOCD_PORT": "8081"}, None, "argocd_port = 8081", ENV, "the dev app 8081"),
        ("git_port = 8083\n", {}, None, "git_port = 8083", TOML, "the prod app 8083"),
        # registry host[:port]
        ("", {"LAB_REGISTRY": "http://x"}, None, "registry = 'http://x'", ENV, "host[:port] without scheme"),
        ("", {"LAB_REGISTRY": "localhost:5001/lab"}, None, "registry = 'localhost:5001/lab'", ENV, "host[:port]"),
        ("", {"LAB_REGISTRY": "localhost:99999"}, None, "registry = 'localhost:99999'", ENV, "host[:port]"),
        ("", {"LAB_REGISTRY": "myregistry"}, None, "Docker Hub path", ENV, "host[:port]"),
        # kind's cluster names: ^[a-z0-9.-]+$, and kind warns above 50 characters
        ("", {"LAB_CLUSTER_NAME": "My_Lab"}, None, "cluster_name = 'My_Lab'", ENV, "^[a-z0-9.-]+$"),
        ("", {"LAB_CLUSTER_NAME": "lab\n"}, None, "cluster_name = 'lab\\n'", ENV, "^[a-z0-9.-]+$"),
        ("", {"LAB_CLUSTER_NAME": ""}, None, "cluster_name = ''", ENV, "^[a-z0-9.-]+$"),
        ("", {"LAB_CLUSTER_NAME": "a" * 51}, None, "51 characters long", ENV, "at most 50"),
        ('cluster_name = "my lab!"\n', {}, None, "cluster_name = 'my lab!'", TOML, "^[a-z0-9.-]+$"),
        ("cluster_name = 7\n", {}, None, "cluster_name = 7", TOML, "a string"),
        # the last `up`'s choices: the file is named, and how to forget it
        ("", {}, b'{"provider": "k3d"}', "provider = 'k3d'", JSON, "kind, minikube"),
        ("", {}, b'{"cluster_name": 5}', "cluster_name = 5", JSON, "a string"),
        ("", {}, b'{"provider": "k3d"}', "provider = 'k3d'", JSON, "rm {state}/settings.json"),
        ("", {}, b"\xff\xfe{}", "settings.json: not UTF-8 text", JSON, "rm {state}/settings.json"),
        ("", {}, b"{not json", "settings.json: not JSON", JSON, "rm {state}/settings.json"),
        ("", {}, b"[1]", "settings.json: not a JSON object", JSON, "rm {state}/settings.json"),
        (b"registry_port = 1\n\xff", {}, None, "lab.toml: not UTF-8 text", TOML, "fix"),
    ],
)
def test_a_setting_the_lab_cannot_use_is_refused_with_its_source_and_what_is_valid(
    tmp_path: Path,
    toml: str | bytes,
    env: dict[str, str],
    remembered: bytes | None,
    message: str,
    source: str,
    valid: str,
) -> None:
    state = tmp_path / ".lab"
    config = tmp_path / "lab.toml"
    if toml:
        config.write_bytes(toml if isinstance(toml, bytes) else toml.encode())
    if remembered is not None:
        state.mkdir()
        (state / "settings.json").write_bytes(remembered)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"LAB_STATE_DIR": str(state), **env}, config_file=config)
    error = info.value
    assert error.exit_code == 2
    assert message in error.message, error.render()
    where = {TOML: str(config), JSON: str(state / "settings.json")}.get(source)
    if where is not None:
        assert where in error.message, error.render()
    else:  # the environment variable, by name
        assert f"{ENV} {next(iter(env))}" in error.message, error.render()
    assert valid.format(state=state) in (error.hint or ""), error.render()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["lab.toml"] * bool(toml) + [".lab"] * (remembered is not None)
    ), "nothing is created"


def test_two_settings_on_one_port_name_both_and_their_sources(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text("registry_port = 3000\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert info.value.message == (
        f"settings registry_port = 3000 (from {tmp_path / 'lab.toml'}) and git_port = 3000 (from default): "
        "two components on one port"
    )
    # A port the lab does not publish is no clash: an external registry, or the aws target.
    assert load(tmp_path, env={"LAB_REGISTRY": "registry.example.com:3000"}).registry_port == 3000
    assert load(tmp_path, flags={"target": "aws"}).registry_port == 3000


def test_a_state_dir_that_cannot_be_created_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    for state in (blocker / ".lab", blocker):
        with pytest.raises(ConfigError) as info:
            load_settings(environ={"LAB_STATE_DIR": str(state)}, config_file=tmp_path / "lab.toml")
        assert f"state_dir = '{state}' (from environment variable LAB_STATE_DIR)" in info.value.message
        assert info.value.exit_code == 2 and "a directory the lab may create" in (info.value.hint or "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LAB_REGISTRY_PORT": " 5002 "}, {"registry_port": 5002}),
        ({"LAB_SYNC_TIMEOUT": "12.5"}, {"sync_timeout": 12.5}),
        ({"LAB_REGISTRY": "registry.example.com"}, {"registry": "registry.example.com"}),
        ({"LAB_REGISTRY": "localhost"}, {"registry": "localhost"}),
        ({"LAB_REGISTRY": "127.0.0.1:5000"}, {"registry": "127.0.0.1:5000"}),
        ({"LAB_REGISTRY": "[::1]:5000"}, {"registry": "[::1]:5000"}),
        ({"LAB_CLUSTER_NAME": "lab.v2-" + "a" * 43}, {"cluster_name": "lab.v2-" + "a" * 43}),
        ({"LAB_OFFLINE": "yes"}, {"offline": True}),
    ],
)
def test_valid_values_pass(tmp_path: Path, env: dict[str, str], expected: dict[str, object]) -> None:
    s = load(tmp_path, env=env)
    assert {k: getattr(s, k) for k in expected} == expected


def test_unknown_keys_in_lab_toml_and_flags_are_refused(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('clustr_name = "typo"\n')
    with pytest.raises(ConfigError, match="unknown setting 'clustr_name'"):
        load(tmp_path)
    (tmp_path / "lab.toml").write_text("cluster_name = \n")
    with pytest.raises(ConfigError, match=r"lab\.toml"):
        load(tmp_path)
    (tmp_path / "lab.toml").unlink()
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load(tmp_path, flags={"colour": "blue"})


def test_environments() -> None:
    assert ENV_NAMES == ("dev", "staging", "prod")
    dev, staging, prod = (environment(n) for n in ENV_NAMES)
    assert (dev.replicas, staging.replicas, prod.replicas) == (1, 2, 3)
    assert (dev.auto_sync, staging.auto_sync, prod.auto_sync) == (True, False, False)
    assert (dev.log_level, staging.log_level, prod.log_level) == ("DEBUG", "INFO", "ERROR")
    assert dev.rank < staging.rank < prod.rank
    with pytest.raises(ConfigError) as info:
        environment("qa")
    assert "dev, staging, prod" in (info.value.hint or "")
