"""Prometheus metrics: request count and latency by route template and status, on a per-app registry.

Labels use the URL rule (``/api/v1/items/<int:item_id>``), never the raw path, and a fixed set of methods,
so a client cannot create unbounded series. Under gunicorn every worker is a process with its own counters:
a scrape sees one worker's numbers unless ``PROMETHEUS_MULTIPROC_DIR`` is set, in which case each worker
writes its samples to files there and ``/metrics`` aggregates all of them (prometheus_client multiprocess
mode; gunicorn.conf.py creates and wipes the directory at startup and marks dead workers).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app.settings import Settings

UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets in seconds: this service answers in well under 10 ms; the tail shows queueing.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's collectors, registered on a registry of its own (several apps can live in one process)."""

    def __init__(self, settings: Settings, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiproc_dir = settings.prometheus_multiproc_dir
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent handling HTTP requests in the app, by method, route template and status code.",
            ("method", "route", "status"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        build_info = Gauge(
            "app_build_info",
            "Build metadata of the running image; the value is always 1.",
            ("version", "commit", "image_tag", "environment"),
            registry=self.registry,
            multiprocess_mode="max",
        )
        build_info.labels(version, settings.commit, settings.image_tag, settings.app_env).set(1)
        # (method, route, status) -> the two labelled children: labels() takes a lock and builds a key each call.
        # Bounded like the series themselves (known methods x URL rules x statuses).
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            label = method if method in _KNOWN_METHODS else "OTHER"
            children = (self.requests.labels(label, route, str(status)), self.latency.labels(label, route, str(status)))
            if label == method:  # an unknown method's own key would let a client grow this dict
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> Response:
        if self.multiproc_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
            payload = generate_latest(registry)
        else:
            payload = generate_latest(self.registry)
        return Response(payload, mimetype=None, content_type=CONTENT_TYPE_LATEST)

    def init_app(self, app: Flask) -> None:
        @app.before_request
        def _start_timer() -> None:
            g.request_started = time.perf_counter()

        @app.after_request
        def _record(response: Response) -> Response:
            started = g.get("request_started")
            if started is not None:
                route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
                self.observe(request.method, route, response.status_code, time.perf_counter() - started)
            return response
