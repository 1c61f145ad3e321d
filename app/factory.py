"""The application factory and the service endpoints (health, readiness, version, metrics, index)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app import items, problems, write_token
from app.lifecycle import Lifecycle, State
from app.logs import configure_logging
from app.metrics import Metrics
from app.problems import Problem
from app.settings import Config, Settings, load

SERVICE_NAME = "gitops-lab-app"
VERSION = "0.1.0"
DEBUG_SLOW_MAX_SECONDS = 10.0

core = Blueprint("core", __name__)
debug = Blueprint("debug", __name__, url_prefix="/debug")


def create_app(config: type[Config] | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config``: a ``Config`` subclass, or a mapping of overrides on top of ``Config``.

    Raises ``app.settings.ConfigError`` (a ``ValueError``) on an invalid setting, e.g. ``LOG_LEVEL=LOUD``.
    """
    settings = load(config)
    logger = configure_logging(settings.log_level)
    app = Flask(__name__.split(".")[0])
    app.config.update(TESTING=settings.testing, MAX_CONTENT_LENGTH=settings.max_content_length)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    lifecycle = Lifecycle()
    metrics = Metrics(settings, VERSION)
    app.extensions["gitops_lab.settings"] = settings
    app.extensions["gitops_lab.lifecycle"] = lifecycle
    app.extensions["gitops_lab.metrics"] = metrics
    app.extensions["gitops_lab.items"] = items.ItemStore(settings.items_max)
    problems.init_app(app)
    metrics.init_app(app)
    if settings.fault_routes:
        _inject_faults(app, frozenset(settings.fault_routes))
        logger.warning(
            "fault injection on (APP_FAULT_ROUTES): these routes answer 500", extra={"routes": settings.fault_routes}
        )
    app.register_blueprint(core)
    app.register_blueprint(items.bp)
    if settings.debug_endpoints:
        app.register_blueprint(debug)
        logger.warning("debug endpoints enabled (APP_DEBUG_ENDPOINTS): never in a deployed environment")
    if settings.ready_on_create:
        lifecycle.mark_ready()
    logger.info(
        "app created",
        extra={
            "app_env": settings.app_env,
            "log_level": settings.log_level,
            "commit": settings.commit,
            "image_tag": settings.image_tag,
            "metrics_multiprocess": bool(settings.prometheus_multiproc_dir),
        },
    )
    return app


def _inject_faults(app: Flask, routes: frozenset[str]) -> None:
    """A bad release on purpose: every request to one of ROUTES (URL rules) answers 500, counted by the metrics."""

    @app.before_request
    def _fail() -> None:
        if request.url_rule is not None and request.url_rule.rule in routes:
            raise Problem(500, f"{request.url_rule.rule} fails on purpose: APP_FAULT_ROUTES is set (a bad release).")


def get_settings(app: Flask | None = None) -> Settings:
    settings: Settings = (app or current_app).extensions["gitops_lab.settings"]
    return settings


def get_lifecycle(app: Flask | None = None) -> Lifecycle:
    lifecycle: Lifecycle = (app or current_app).extensions["gitops_lab.lifecycle"]
    return lifecycle


def _version_info() -> dict[str, str]:
    settings = get_settings()
    return {
        "version": VERSION,
        "commit": settings.commit,
        "image_tag": settings.image_tag,
        "build_time": settings.build_time,
        "environment": settings.app_env,
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@core.get("/")
def index() -> Response:
    return jsonify(
        {
            "service": SERVICE_NAME,
            "version": _version_info(),
            "links": {
                "health": "/health",
                "ready": "/ready",
                "version": "/version",
                "metrics": "/metrics",
                "items": "/api/v1/items",
            },
            # "token": POST/DELETE on items need the write token; "open": they do not (app/write_token.py).
            "write_protection": write_token.protection(get_settings().write_token_file),
        }
    )


@core.get("/health")
def health() -> Response:
    return _no_store(
        jsonify(
            {
                "status": "ok",
                "check": "liveness",
                "checks": {"process": "ok"},
                "description": "The worker process is running and its WSGI app answers. "
                "No dependency is checked: a failure here means restart the container.",
            }
        )
    )


@core.get("/ready")
def ready() -> tuple[Response, int]:
    state = get_lifecycle().state
    descriptions = {
        State.STARTING: "The app has not finished starting; do not send traffic yet.",
        State.READY: "The app accepts traffic.",
        State.DRAINING: "Shutting down (SIGTERM received): in-flight requests finish; send new traffic elsewhere.",
    }
    body = {
        "status": state.value,
        "ready": state is State.READY,
        "check": "readiness",
        "description": descriptions[state],
    }
    return _no_store(jsonify(body)), 200 if state is State.READY else 503


@core.get("/version")
def version() -> Response:
    return jsonify(_version_info())


@core.get("/metrics")
def metrics() -> Response:
    exporter: Metrics = current_app.extensions["gitops_lab.metrics"]
    return exporter.exposition()


@debug.get("/slow")
def slow() -> Response:
    """Answer after ``?seconds=`` (0-10): an in-flight request for the graceful-shutdown tests."""
    raw = request.args.get("seconds", "1")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= DEBUG_SLOW_MAX_SECONDS:
        raise Problem(400, f"seconds must be a number between 0 and {DEBUG_SLOW_MAX_SECONDS:g}, got {raw!r}.")
    time.sleep(seconds)
    logging.getLogger(__name__).debug("slow request done", extra={"seconds": seconds})
    return jsonify({"slept_seconds": seconds})
