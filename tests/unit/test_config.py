"""Settings: defaults < lab.toml < the last `up`'s choices < LAB_* environment < flags; bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import ENV_NAMES, Settings, environment, load_settings, remember_choices
from lab.errors import ConfigError


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
        ({"target": "gcp"}, {}, "unknown target 'gcp'", "local, aws"),
        ({}, {"LAB_PROVIDER": "k3d"}, "unknown provider 'k3d'", "kind, minikube"),
        ({"aws_emulator": "moto"}, {}, "unknown aws_emulator 'moto'", "ministack, localstack"),
        ({"push_registry": "gcr"}, {}, "unknown push_registry 'gcr'", "local, ecr"),
    ],
)
def test_unknown_values_are_refused_with_the_valid_ones(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], message: str, valid: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, flags=flags, env=env)
    assert message in info.value.message and valid in (info.value.hint or "")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"registry_port": 70000}, {}, "registry_port must be a TCP port"),
        ({}, {"LAB_GIT_PORT": "three thousand"}, "cannot read 'three thousand' as int"),
        ({}, {"LAB_OFFLINE": "maybe"}, "cannot read 'maybe' as bool"),
        ({"cluster_name": "my lab!"}, {}, "invalid cluster name"),
    ],
)
def test_malformed_values_are_refused(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, flags=flags, env=env)


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
