"""One source of settings: defaults < lab.toml < LAB_* environment < command-line flags.

Settings are frozen dataclasses; each field says its unit and why the default was chosen. A value the lab cannot
use (wrong type, unknown choice, a port out of range or taken by another component, ...) is refused before
anything is created: SettingError (exit code 2) names the setting, where its value came from (lab.toml,
.lab/settings.json, a LAB_* variable or a flag) and what is valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core import names
from lab.core.checks import (
    PORT_VALID,
    SettingError,
    check_choice,
    check_cluster_name,
    check_registry,
    check_state_dir,
    coerce,
)
from lab.core.errors import ConfigError
from lab.core.urls import split_url

ROOT = Path(__file__).resolve().parents[2]

TARGETS = ("local", "aws")
PROVIDERS = ("kind", "minikube")
AWS_EMULATORS = ("ministack", "localstack")
REGISTRY_KINDS = ("local", "ecr")
# Components off by default (lab/components: `invoke up --with NAME`).
OPTIONAL_COMPONENTS = ("monitoring", "sealed-secrets")
# Image-scan thresholds, lowest first (Trivy's severity names: trivy-db pkg/types/types.go SeverityNames), and "off".
SCAN_SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCAN_OFF = "off"


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
    cluster_name: str = names.LAB
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
    image_name: str = names.APP_NAME
    # An existing git URL or path to use as the GitOps repo instead of the lab's git server ("" = built-in).
    gitops_remote: str = ""
    # Host port of the lab's git server (smart HTTP). 3000 is free on most laptops; 8080 is kept for Argo CD.
    git_port: int = 3000
    # Host port of the Argo CD UI (NodePort mapped by kind); 8080 is what Argo CD's docs use for port-forward.
    argocd_port: int = 8080
    # Host port of the lab's notification receiver (Argo CD's webhook notifications; lab/images/notify).
    notify_port: int = 8095
    # Base image of the app and lab images. Override where Docker Hub cannot be reached (CI builds its own).
    base_image: str = "python:3.12-slim"
    # Where the lab keeps its state: the GitOps bare repo, caches, generated manifests.
    state_dir: Path = field(default_factory=lambda: ROOT / ".lab")
    # Never pull or download: use only .lab/cache (after `invoke cache`).
    offline: bool = False
    # Seconds to wait for Argo CD to report an environment Synced + Healthy.
    sync_timeout: float = 300.0
    # Optional components to run as well (OPTIONAL_COMPONENTS): lab.toml `with_components = ["monitoring"]`,
    # LAB_WITH_COMPONENTS=monitoring (comma-separated), `invoke up --with monitoring`. Off by default: each costs
    # memory and start-up time.
    with_components: tuple[str, ...] = ()
    # `ship` scans the built image before the push (Trivy; on the aws target also ECR's scan-on-push findings):
    # a finding at or above this severity stops the ship unless accepted with --allow-vulnerable ID. CRITICAL by
    # default: what must never reach a cluster, without making every HIGH a stop sign in a learning lab.
    # "off" ships unscanned (the deploy commit says so: trailer Image-Scan).
    scan_severity: str = "CRITICAL"

    # Where each value came from (field -> "default", a file, "environment variable LAB_X" or "flag --x"):
    # filled by load_settings, named in errors and by `invoke status`. Not a setting.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_choice("target", self.target, TARGETS)
        check_choice("provider", self.provider, PROVIDERS)
        check_choice("aws_emulator", self.aws_emulator, AWS_EMULATORS)
        check_choice("push_registry", self.push_registry, REGISTRY_KINDS)
        for name in self.with_components:
            check_choice("with_components", name, OPTIONAL_COMPONENTS)
        check_choice("scan_severity", self.scan_severity, (*SCAN_SEVERITIES, SCAN_OFF))
        for name in PORT_FIELDS:
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise SettingError("not a TCP port", names=(name,), values=(port,), valid=PORT_VALID)
        if not (self.sync_timeout > 0 and math.isfinite(self.sync_timeout)):
            raise SettingError(
                "a timeout must be more than 0 seconds",
                names=("sync_timeout",),
                values=(self.sync_timeout,),
                valid="a number of seconds above 0, e.g. 300",
            )
        check_cluster_name(self.cluster_name)
        if self.registry:
            check_registry(self.registry)
        if self.target == "local":
            _check_ports_distinct(self)

    # Derived values -------------------------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def scanner_cache_dir(self) -> Path:
        """Trivy's --cache-dir: its vulnerability database (db/trivy.db + metadata.json) and scan cache."""
        return self.cache_dir / "trivy"

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
        return (
            split_url(self.gitops_remote)[0] if self.gitops_remote else f"http://127.0.0.1:{self.git_port}/gitops.git"
        )


# Environment variables: LAB_<FIELD> for every field, e.g. LAB_TARGET, LAB_REGISTRY, LAB_GITOPS_REMOTE.
ENV_PREFIX = "LAB_"


PORT_FIELDS = ("registry_port", "emulator_port", "git_port", "argocd_port", "notify_port")


def _ports_in_use(s: Settings) -> list[tuple[str, int]]:
    """(what, host port) of every port the lab publishes on 127.0.0.1 for target local; a what that is a field
    name is a setting."""
    used = [] if s.registry else [("registry_port", s.registry_port)]
    used += [] if s.aws_endpoint_url else [("emulator_port", s.emulator_port)]
    used += [] if s.gitops_remote else [("git_port", s.git_port)]
    used.append(("argocd_port", s.argocd_port))
    used.append(("notify_port", s.notify_port))
    used += [(f"the {env.name} app", env.host_port) for env in ENVIRONMENTS]
    return used


def _check_ports_distinct(s: Settings) -> None:
    used = _ports_in_use(s)
    for i, (what, port) in enumerate(used):
        for other, other_port in used[i + 1 :]:
            if port != other_port:
                continue
            taken = ", ".join(f"{w} {p}" for w, p in used)
            valid = f"a port no other component of the lab uses (now: {taken})"
            if other in PORT_FIELDS:
                raise SettingError(
                    "two components on one port", names=(what, other), values=(port, other_port), valid=valid
                )
            raise SettingError(f"{other} publishes 127.0.0.1:{port}", names=(what,), values=(port,), valid=valid)


LAST_UP_FILE = "settings.json"  # under state_dir: the choices of the last `invoke up`
LAST_UP_FIELDS = ("target", "provider", "cluster_name")
DEFAULT_SOURCE = "default"


def last_up_file(state_dir: Path) -> Path:
    return state_dir / LAST_UP_FILE


def forget_hint(state_dir: Path) -> str:
    """The command that forgets the remembered choices (a command that works from any directory)."""
    return f"rm {last_up_file(state_dir)}"


def remember_choices(settings: Settings) -> None:
    """Record the target, provider and cluster of `invoke up`, so later commands (ship, status, sync...) act on
    the same lab without repeating --provider / LAB_PROVIDER. tasks.py calls it once `up` has passed its checks."""
    path = last_up_file(settings.state_dir)
    data = {name: getattr(settings, name) for name in LAST_UP_FIELDS}
    tmp = path.with_name(f".{LAST_UP_FILE}.tmp")
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise SettingError(
            f"cannot write {path} ({exc.strerror})",
            names=("state_dir",),
            values=(str(settings.state_dir),),
            valid="a directory the lab may create and write",
            sources=settings.sources,
        ) from exc


def remembered(settings: Settings) -> list[tuple[str, Any, str | None]]:
    """The choices .lab/settings.json holds for SETTINGS (loaded by load_settings): (setting, remembered value,
    None when it is in force, else the source that overrides it)."""
    path = last_up_file(settings.state_dir)
    label = _last_up_source(path)
    out: list[tuple[str, Any, str | None]] = []
    for name, value in _last_up(path).items():
        source = settings.sources.get(name, DEFAULT_SOURCE)
        out.append((name, value, None if source == label else source))
    return out


def _read_text(path: Path, hint: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})", hint=hint) from None


def _last_up_source(path: Path) -> str:
    return f"{path}, the last `invoke up`'s choices"


def _last_up(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    hint = f"{forget_hint(path.parent)} (the next `invoke up` writes it again)"
    try:
        data = json.loads(_read_text(path, hint))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})", hint=hint) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object", hint=hint)
    return {k: v for k, v in data.items() if k in LAST_UP_FIELDS}


def _from_toml(path: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The settings lab.toml (PATH, optional) sets; its keys may spell `-` for `_`."""
    if not path.is_file():
        return {}
    hint = f"fix {path} (it is optional: without it the defaults apply)"
    try:
        data = tomllib.loads(_read_text(path, hint))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", hint=hint) from None
    out: dict[str, Any] = {}
    for key, raw in data.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ConfigError(f"{path}: unknown setting {key!r}", hint=f"valid: {', '.join(fields)}")
        out[name] = raw
    return out


def _from_flags(
    overrides: Mapping[str, Any], fields: Mapping[str, Any], flag_names: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The flags given (None: not given) and the source of each ("flag --name", or FLAG_NAMES' spelling)."""
    values: dict[str, Any] = {}
    for name, raw in overrides.items():
        if raw is None:
            continue
        if name not in fields:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = raw
    return values, {name: f"flag {flag_names.get(name, '--' + name.replace('_', '-'))}" for name in values}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from defaults < lab.toml < the last `invoke up`'s choices (.lab/settings.json: target,
    provider, cluster) < LAB_* env < overrides (flags; None values are ignored; FLAG_NAMES: the flag of an
    override whose flag is not --NAME, for messages).

    Every value is checked here, with its source, before a caller creates anything: SettingError (exit 2)."""
    fields = {f.name: f for f in dataclasses.fields(Settings) if f.name != "sources"}
    path = config_file if config_file is not None else ROOT / "lab.toml"
    from_file = _from_toml(path, fields)
    layers: list[tuple[dict[str, Any], dict[str, str]]] = [(from_file, dict.fromkeys(from_file, str(path)))]
    env = os.environ if environ is None else environ
    from_env = {name: env[ENV_PREFIX + name.upper()] for name in fields if ENV_PREFIX + name.upper() in env}
    env_sources = {name: f"environment variable {ENV_PREFIX}{name.upper()}" for name in from_env}
    from_flags, flag_sources = _from_flags(overrides or {}, fields, flag_names or {})

    # The state directory decides where the last `up`'s choices are: from the layers above them.
    state_source = {**layers[0][1], **env_sources, **flag_sources}.get("state_dir", DEFAULT_SOURCE)
    raw_state = {**from_file, **from_env, **from_flags}.get("state_dir")
    state_dir = ROOT / ".lab" if raw_state is None else coerce("state_dir", raw_state, "Path", source=state_source)
    check_state_dir(state_dir, state_source)
    last_up_path = last_up_file(state_dir)
    from_last_up = _last_up(last_up_path)
    layers.append((from_last_up, dict.fromkeys(from_last_up, _last_up_source(last_up_path))))
    layers.append((from_env, env_sources))
    layers.append((from_flags, flag_sources))

    values: dict[str, Any] = {}
    sources = dict.fromkeys(fields, DEFAULT_SOURCE)
    for layer, where in layers:
        values.update(layer)
        sources.update(where)
    coerced = {name: coerce(name, raw, fields[name].type, source=sources[name]) for name, raw in values.items()}
    try:
        return Settings(**coerced, sources=sources)
    except SettingError as exc:
        from_remembered = any(sources[n] == _last_up_source(last_up_path) for n in exc.names)
        also = f"or forget the last `invoke up`'s choices: {forget_hint(state_dir)}" if from_remembered else ""
        raise exc.locate(sources, also=also) from None
