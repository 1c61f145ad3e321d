"""One source of settings: defaults < lab.toml < LAB_* environment < command-line flags.

Settings are frozen dataclasses; each field says its unit and why the default was chosen. Unknown values
for enumerated settings are rejected with the list of valid ones (ConfigError, exit code 2).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

TARGETS = ("local", "aws")
PROVIDERS = ("kind", "minikube")
AWS_EMULATORS = ("ministack", "localstack")
REGISTRY_KINDS = ("local", "ecr")


@dataclass(frozen=True)
class Environment:
    """One deployment environment: an overlay in the GitOps repo and an Argo CD Application."""

    name: str
    namespace: str
    replicas: int
    log_level: str
    auto_sync: bool  # dev: automated sync with prune + selfHeal; staging/prod: manual sync
    node_port: int  # NodePort of the app Service; kind maps it to 127.0.0.1:host_port
    host_port: int
    rank: int  # promotion order: dev(0) -> staging(1) -> prod(2)


ENVIRONMENTS: tuple[Environment, ...] = (
    Environment("dev", "lab-dev", 1, "DEBUG", True, 30081, 8081, 0),
    Environment("staging", "lab-staging", 2, "INFO", False, 30082, 8082, 1),
    Environment("prod", "lab-prod", 3, "ERROR", False, 30083, 8083, 2),
)
ENV_NAMES = tuple(e.name for e in ENVIRONMENTS)


def environment(name: str) -> Environment:
    for env in ENVIRONMENTS:
        if env.name == name:
            return env
    raise ConfigError(f"unknown environment {name!r}", hint=f"valid environments: {', '.join(ENV_NAMES)}")


@dataclass(frozen=True)
class Settings:
    # Where the flow runs. "local": kind/minikube + local registry + ECR emulator; "aws": EKS + ECR.
    target: str = "local"
    # Local cluster provider. kind is the default: fastest start, multi-node capable, the local-registry recipe.
    provider: str = "kind"
    # Name of the kind cluster / minikube profile; also the kubeconfig context suffix (kind-<name>).
    cluster_name: str = "gitops-lab"
    # An existing registry host:port to use instead of starting one ("" = the lab runs registry:2 on registry_port).
    registry: str = ""
    # Host port of the lab's registry. 5001, as in kind's local-registry recipe (5000 is AirPlay on macOS).
    registry_port: int = 5001
    # Which registry `ship` pushes to: "local" (the registry above) or "ecr" (the emulator, or ECR on aws).
    push_registry: str = "local"
    # ECR emulator for the local target: MiniStack is free; LocalStack's ECR needs a paid plan + token.
    aws_emulator: str = "ministack"
    # AWS API endpoint ("" = the emulator on 127.0.0.1:emulator_port for local, real AWS for aws).
    aws_endpoint_url: str = ""
    # Host port of the ECR emulator; 4566 is LocalStack's gateway port, which MiniStack also uses.
    emulator_port: int = 4566
    aws_region: str = "us-east-1"
    # ECR repository and image name of the app.
    image_name: str = "lab-app"
    # An existing git URL or path to use as the GitOps repo instead of the lab's git server ("" = built-in).
    gitops_remote: str = ""
    # Host port of the lab's git server (smart HTTP). 3000 is free on most laptops; 8080 is kept for Argo CD.
    git_port: int = 3000
    # Host port of the Argo CD UI (NodePort mapped by kind); 8080 is what Argo CD's docs use for port-forward.
    argocd_port: int = 8080
    # Base image of the app and lab images. Override where Docker Hub cannot be reached (CI builds its own).
    base_image: str = "python:3.12-slim"
    # Where the lab keeps its state: the GitOps bare repo, caches, generated manifests.
    state_dir: Path = field(default_factory=lambda: ROOT / ".lab")
    # Never pull or download: use only .lab/cache (after `invoke cache`).
    offline: bool = False
    # Seconds to wait for Argo CD to report an environment Synced + Healthy.
    sync_timeout: float = 300.0

    def __post_init__(self) -> None:
        _check_choice("target", self.target, TARGETS)
        _check_choice("provider", self.provider, PROVIDERS)
        _check_choice("aws_emulator", self.aws_emulator, AWS_EMULATORS)
        _check_choice("push_registry", self.push_registry, REGISTRY_KINDS)
        for name in ("registry_port", "emulator_port", "git_port", "argocd_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name} must be a TCP port (1-65535), got {port}")
        if not self.cluster_name or not self.cluster_name.replace("-", "").isalnum():
            raise ConfigError(f"invalid cluster name {self.cluster_name!r}", hint="use letters, digits and dashes")

    # Derived values -------------------------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def gitops_bare_repo(self) -> Path:
        return self.state_dir / "git" / "gitops.git"

    @property
    def registry_host(self) -> str:
        """Where the host pushes images (host:port)."""
        return self.registry or f"localhost:{self.registry_port}"

    @property
    def emulator_endpoint(self) -> str:
        return self.aws_endpoint_url or f"http://127.0.0.1:{self.emulator_port}"

    @property
    def kube_context(self) -> str:
        if self.target == "aws":
            return f"eks-{self.cluster_name}"  # the alias `aws eks update-kubeconfig --alias` gives the context
        return f"kind-{self.cluster_name}" if self.provider == "kind" else self.cluster_name

    @property
    def gitops_url(self) -> str:
        """The GitOps remote the host pushes to, without the user:password@ gitops_remote may carry (git gets that
        from a credential helper, Argo CD from its repository Secret: lab/tools/git_credential.py)."""
        from lab.tools.git_credential import split_url

        return (
            split_url(self.gitops_remote)[0] if self.gitops_remote else f"http://127.0.0.1:{self.git_port}/gitops.git"
        )


# Environment variables: LAB_<FIELD> for every field, e.g. LAB_TARGET, LAB_REGISTRY, LAB_GITOPS_REMOTE.
ENV_PREFIX = "LAB_"


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {name} {value!r}", hint=f"valid values: {', '.join(valid)}")


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "Path":
            return Path(str(raw)).expanduser()
        return str(raw)
    except ValueError:
        raise ConfigError(f"setting {name}: cannot read {raw!r} as {kind}") from None


LAST_UP_FILE = "settings.json"  # under state_dir: the choices of the last `invoke up`
LAST_UP_FIELDS = ("target", "provider", "cluster_name")


def remember_choices(settings: Settings) -> None:
    """Record the target, provider and cluster of `invoke up`, so later commands (ship, status, sync...) act on
    the same lab without repeating --provider / LAB_PROVIDER."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    data = {name: getattr(settings, name) for name in LAST_UP_FIELDS}
    (settings.state_dir / LAST_UP_FILE).write_text(json.dumps(data, indent=2) + "\n")


def _last_up(state_dir: Path) -> dict[str, Any]:
    path = state_dir / LAST_UP_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", hint=f"delete {path}; the next `invoke up` writes it again") from exc
    return {k: v for k, v in data.items() if k in LAST_UP_FIELDS} if isinstance(data, dict) else {}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from defaults < lab.toml < the last `invoke up`'s choices (.lab/settings.json: target,
    provider, cluster) < LAB_* env < overrides (flags; None values are ignored)."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    from_file: dict[str, Any] = {}
    path = config_file if config_file is not None else ROOT / "lab.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in fields:
                raise ConfigError(f"{path}: unknown setting {key!r}", hint=f"valid: {', '.join(fields)}")
            from_file[name] = raw
    env = os.environ if environ is None else environ
    from_env = {name: env[ENV_PREFIX + name.upper()] for name in fields if ENV_PREFIX + name.upper() in env}
    from_flags: dict[str, Any] = {}
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in fields:
            raise ConfigError(f"unknown setting {name!r}")
        from_flags[name] = raw
    above = {**from_file, **from_env, **from_flags}
    state_dir = _coerce("state_dir", above["state_dir"], "Path") if "state_dir" in above else Settings().state_dir
    values = {**from_file, **_last_up(state_dir), **from_env, **from_flags}
    coerced = {name: _coerce(name, raw, fields[name].type) for name, raw in values.items()}
    return Settings(**coerced)
