"""Settings: config classes (defaults) overlaid with environment variables, validated once at startup.

``Config`` holds the defaults; every key listed in ``ENV_KEYS`` is overridden by the environment variable of
the same name when the class says ``READ_ENV = True``. ``TestConfig`` does not read the environment, so a
developer's shell cannot change what the unit tests see. The result is a frozen ``Settings``: the app never
reads ``os.environ`` after startup, and a bad value fails at startup with a message that names the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The log level an environment gets when LOG_LEVEL is not set: chatty where you debug, quiet where you pay.
DEFAULT_LOG_LEVEL_BY_ENV = {"dev": "DEBUG", "staging": "INFO", "prod": "ERROR"}
FALLBACK_LOG_LEVEL = "INFO"
_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """A setting has a value the app cannot run with; the message names the variable and the allowed values."""


class Config:
    """Defaults for production use; each key in ``ENV_KEYS`` can be overridden by the env var of that name."""

    READ_ENV: ClassVar[bool] = True
    ENV_KEYS: ClassVar[tuple[str, ...]] = (
        "APP_ENV",
        "LOG_LEVEL",
        "APP_COMMIT",
        "APP_IMAGE_TAG",
        "APP_BUILD_TIME",
        "MAX_CONTENT_LENGTH",
        "ITEMS_MAX",
        "APP_DEBUG_ENDPOINTS",
        "PROMETHEUS_MULTIPROC_DIR",
        "APP_WRITE_TOKEN_FILE",
        "APP_FAULT_ROUTES",
    )

    TESTING = False
    # Environment name (dev/staging/prod...). The image sets a default; each Deployment overrides it.
    APP_ENV = "dev"
    # DEBUG/INFO/WARNING/ERROR; empty means "derive from APP_ENV" (dev DEBUG, staging INFO, prod ERROR).
    LOG_LEVEL = ""
    # Build metadata: the Dockerfile turns its build args into these env vars.
    APP_COMMIT = "unknown"
    APP_IMAGE_TAG = "unknown"
    APP_BUILD_TIME = "unknown"
    # Largest request body in bytes (Flask answers 413 above it). 64 KiB: an item is < 200 bytes.
    MAX_CONTENT_LENGTH = 64 * 1024
    # Items kept per in-memory store; a create beyond it evicts the oldest, so a client cannot exhaust memory.
    ITEMS_MAX = 10_000
    # Enables /debug/slow (used by the graceful-shutdown tests). Never on in a deployed environment.
    APP_DEBUG_ENDPOINTS = False
    # prometheus_client multiprocess mode (gunicorn with several workers); empty = per-process metrics.
    PROMETHEUS_MULTIPROC_DIR = ""
    # File holding the token that POST/DELETE on /items need (app/write_token.py); empty = writes are open.
    APP_WRITE_TOKEN_FILE = ""
    # A bad release on purpose (the lab's e2e test and tutorial: `invoke demo-bad-release`): comma-separated URL
    # rules (as in the metrics' `route` label, e.g. /api/v1/items) that answer 500. Refused when APP_ENV is prod.
    APP_FAULT_ROUTES = ""
    # False leaves /ready at 503 "starting" until the caller runs lifecycle.mark_ready() (after a warm-up).
    READY_ON_CREATE = True


class TestConfig(Config):
    """For the Flask test client: deterministic, independent of the caller's environment."""

    __test__ = False  # not a pytest test class
    READ_ENV = False
    TESTING = True
    APP_ENV = "test"
    LOG_LEVEL = "DEBUG"


@dataclass(frozen=True)
class Settings:
    """Validated settings; units are in the field names or comments."""

    app_env: str
    log_level: str  # one of LOG_LEVELS
    commit: str
    image_tag: str
    build_time: str
    max_content_length: int  # bytes
    items_max: int  # items
    debug_endpoints: bool
    prometheus_multiproc_dir: str  # "" = single-process metrics
    write_token_file: str  # "" = writes need no token (app/write_token.py)
    ready_on_create: bool
    testing: bool
    fault_routes: tuple[str, ...] = ()  # URL rules that answer 500 (APP_FAULT_ROUTES)


def collect(config: type[Config] | Mapping[str, Any] | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """Merge a config class (or a mapping over ``Config``) with the environment, without validating."""
    base: type[Config]
    overrides: Mapping[str, Any] = {}
    if config is None:
        base = Config
    elif isinstance(config, type):
        base = config
    else:
        base = Config
        overrides = config
    values: dict[str, Any] = {key: getattr(base, key) for key in dir(base) if key.isupper()}
    if overrides.get("READ_ENV", base.READ_ENV):
        values.update({key: environ[key] for key in base.ENV_KEYS if key in environ})
    values.update(overrides)
    return values


def load(config: type[Config] | Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate ``Settings``; raises ``ConfigError`` naming the first bad variable."""
    values = collect(config, os.environ if environ is None else environ)
    app_env = str(values["APP_ENV"]).strip()
    if not _ENV_NAME.match(app_env):
        raise ConfigError(
            f"APP_ENV={app_env!r} is not a valid environment name "
            "(lowercase letters, digits and '-', 1-32 characters, e.g. dev, staging, prod)"
        )
    multiproc_dir = str(values["PROMETHEUS_MULTIPROC_DIR"]).strip()
    if multiproc_dir and not (os.path.isdir(multiproc_dir) and os.access(multiproc_dir, os.W_OK)):
        raise ConfigError(
            f"PROMETHEUS_MULTIPROC_DIR={multiproc_dir!r} must be an existing writable directory "
            "(gunicorn.conf.py creates it; with a read-only root filesystem put it on the /tmp emptyDir)"
        )
    return Settings(
        app_env=app_env,
        log_level=resolve_log_level(values["LOG_LEVEL"], app_env),
        commit=_text(values, "APP_COMMIT"),
        image_tag=_text(values, "APP_IMAGE_TAG"),
        build_time=_text(values, "APP_BUILD_TIME"),
        max_content_length=_positive_int(values, "MAX_CONTENT_LENGTH"),
        items_max=_positive_int(values, "ITEMS_MAX"),
        debug_endpoints=_bool(values, "APP_DEBUG_ENDPOINTS"),
        prometheus_multiproc_dir=multiproc_dir,
        write_token_file=str(values["APP_WRITE_TOKEN_FILE"]).strip(),
        ready_on_create=_bool(values, "READY_ON_CREATE"),
        testing=_bool(values, "TESTING"),
        fault_routes=_fault_routes(values["APP_FAULT_ROUTES"], app_env),
    )


def _fault_routes(value: object, app_env: str) -> tuple[str, ...]:
    routes = tuple(r.strip() for r in str(value or "").split(",") if r.strip())
    bad = [r for r in routes if not r.startswith("/")]
    if bad:
        raise ConfigError(f"APP_FAULT_ROUTES={value!r}: {bad[0]!r} is not a URL rule (e.g. /api/v1/items)")
    if routes and app_env == "prod":
        raise ConfigError(
            f"APP_FAULT_ROUTES={value!r} is refused in prod: it makes those routes answer 500 on purpose "
            "(for the lab's bad-release demo in dev); unset it"
        )
    return routes


def resolve_log_level(value: object, app_env: str) -> str:
    """LOG_LEVEL if set (case-insensitive), else the default for the environment."""
    text = str(value or "").strip().upper()
    if not text:
        return DEFAULT_LOG_LEVEL_BY_ENV.get(app_env, FALLBACK_LOG_LEVEL)
    if text not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={value!r} is not one of {', '.join(LOG_LEVELS)}")
    return text


def _text(values: Mapping[str, Any], key: str) -> str:
    return str(values[key]).strip() or "unknown"


def _positive_int(values: Mapping[str, Any], key: str) -> int:
    raw = values[key]
    if isinstance(raw, bool):
        raise ConfigError(f"{key}={raw!r} must be a positive integer")
    try:
        number = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise ConfigError(f"{key}={raw!r} must be a positive integer") from None
    if number <= 0:
        raise ConfigError(f"{key}={raw!r} must be a positive integer")
    return number


def _bool(values: Mapping[str, Any], key: str) -> bool:
    raw = values[key]
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}={raw!r} must be a boolean (1/0, true/false, yes/no, on/off)")
