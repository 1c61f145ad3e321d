"""The checks of lab settings (lab/core/config.py Settings, lab/core/aws_config.py AwsSettings) and the error they
raise: SettingError (exit 2) names the setting, its value, where it came from and what is valid.

- coerce: a raw value (a string from the environment, a TOML/JSON/flag value) as the field's type;
- check_choice, check_cluster_name (kind's rules), check_registry (distribution/reference's host[:port]),
  check_state_dir (a directory the lab may create and write).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lab.core.errors import ConfigError


class SettingError(ConfigError):
    """A setting the lab cannot use. NAMES (and their VALUES) are the settings involved; load_settings adds where
    each value came from (``locate``)."""

    def __init__(
        self,
        problem: str,
        *,
        names: Sequence[str],
        values: Sequence[Any],
        valid: str,
        sources: Mapping[str, str] | None = None,
        also: str = "",
    ) -> None:
        self.problem, self.names, self.values, self.valid = problem, tuple(names), tuple(values), valid
        self.sources = dict(sources or {})
        self.also = also
        parts = []
        for name, value in zip(self.names, self.values, strict=True):
            where = f" (from {self.sources[name]})" if name in self.sources else ""
            parts.append(f"{name} = {value!r}{where}")
        hint = f"valid values: {valid}" + (f"; {also}" if also else "")
        noun = "setting" if len(parts) == 1 else "settings"
        super().__init__(f"{noun} {' and '.join(parts)}: {problem}", hint=hint)

    def locate(self, sources: Mapping[str, str], *, also: str = "") -> SettingError:
        """The same error, naming where each value came from (ALSO: more advice)."""
        return SettingError(
            self.problem, names=self.names, values=self.values, valid=self.valid, sources=sources, also=also
        )


PORT_VALID = "a TCP port, a whole number from 1 to 65535"


# kind's rule for cluster names (kind v0.32.0 pkg/internal/apis/config/validate.go, validNameRE), and the length
# above which kind warns that the cluster may not work (pkg/cluster/internal/create/create.go, clusterNameMax: the
# node hostname gets "-control-plane" appended and hostnames stop at 64 characters).
CLUSTER_NAME_RE = re.compile(r"[a-z0-9.-]+")
CLUSTER_NAME_MAX = 50

# A registry host[:port] as image references spell it (distribution/reference regexp.go, domainAndPort).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
REGISTRY_RE = re.compile(
    rf"(?P<host>{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::(?P<port>[0-9]+))?"
)


def check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise SettingError(f"unknown {name}", names=(name,), values=(value,), valid=", ".join(valid))


def check_cluster_name(name: str) -> None:
    valid = f"lower-case letters, digits, '.' and '-' (kind: ^[a-z0-9.-]+$), at most {CLUSTER_NAME_MAX} characters"
    if not CLUSTER_NAME_RE.fullmatch(name):
        raise SettingError("invalid cluster name", names=("cluster_name",), values=(name,), valid=valid)
    if len(name) > CLUSTER_NAME_MAX:
        raise SettingError(
            f"the cluster name is {len(name)} characters long", names=("cluster_name",), values=(name,), valid=valid
        )


def check_registry(registry: str) -> None:
    match = REGISTRY_RE.fullmatch(registry)
    port = match and match.group("port")
    valid = "a registry host[:port] without scheme or path, e.g. localhost:5001 or registry.example.com"
    if match is None or (port is not None and not 1 <= int(port) <= 65535):
        raise SettingError("not a registry host[:port]", names=("registry",), values=(registry,), valid=valid)
    host = match.group("host")
    if port is None and "." not in host and host != "localhost" and not host.startswith("["):
        # Docker reads such a name as the first path component of a Docker Hub image (distribution/reference
        # regexp.go: "Any other domain-name without a "." or a ":port" are considered a path component").
        raise SettingError(
            "image names would read it as a Docker Hub path", names=("registry",), values=(registry,), valid=valid
        )


def coerce(name: str, raw: Any, annotation: Any, *, source: str | None = None) -> Any:
    """RAW (a string from the environment, or a TOML/JSON/flag value) as the field's type; anything else is a
    SettingError (a list, a table, true for a port, 5001.9 for a port...)."""
    kind = str(annotation)

    def refuse(what: str, valid: str = "") -> SettingError:
        sources = {name: source} if source else None
        return SettingError(
            f"cannot read it as {what}", names=(name,), values=(raw,), valid=valid or what, sources=sources
        )

    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", raw):
            return int(raw)
        raise refuse("a whole number")
    if kind == "float":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise refuse("a number")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
        raise refuse("true or false", "true or false (also 1/0, yes/no, on/off)")
    if kind == "tuple[str, ...]":
        # A list (lab.toml, JSON) or comma-separated text (LAB_* variables, flags); each item a word.
        items = raw.split(",") if isinstance(raw, str) else raw
        if isinstance(items, list | tuple) and all(isinstance(i, str) for i in items):
            return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
        raise refuse("a list of names", 'a list of names, e.g. ["monitoring"] (or "monitoring,..." in LAB_*)')
    if kind == "Path":
        if isinstance(raw, str | os.PathLike) and str(raw).strip():
            return Path(str(raw)).expanduser()
        raise refuse("a directory path")
    if isinstance(raw, str):
        return raw
    raise refuse("a string")


def check_state_dir(path: Path, source: str) -> None:
    """STATE_DIR must be a directory the lab can create and write (checked before anything is created)."""
    problem = ""
    if path.exists():
        if not path.is_dir():
            problem = "it exists and is not a directory"
        elif not os.access(path, os.W_OK | os.X_OK):
            problem = "the directory is not writable"
    else:
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            problem = f"it cannot be created: {parent} is not a directory"
        elif not os.access(parent, os.W_OK | os.X_OK):
            problem = f"it cannot be created: {parent} is not writable"
    if problem:
        raise SettingError(
            problem,
            names=("state_dir",),
            values=(str(path),),
            valid="a directory the lab may create and write",
            sources={"state_dir": source},
        )
