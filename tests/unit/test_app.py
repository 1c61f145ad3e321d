"""The Flask app through its test client: endpoints, validation, problem documents, readiness, metrics, logs."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import Config, ConfigError, TestConfig, create_app, logs
from app.factory import SERVICE_NAME, get_lifecycle
from app.lifecycle import DRAIN_FLAG, Lifecycle, SharedFlag, State
from app.settings import load

PROBLEM = "application/problem+json"
ITEMS = "/api/v1/items"
BUILD_ENV = ("APP_ENV", "LOG_LEVEL", "APP_COMMIT", "APP_IMAGE_TAG", "APP_BUILD_TIME", "MAX_CONTENT_LENGTH")


@pytest.fixture
def app() -> Flask:
    return create_app(TestConfig)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The caller's shell must not leak into tests that read the environment."""
    for key in (*Config.ENV_KEYS, *BUILD_ENV):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def shared_drain_flag() -> Iterator[SharedFlag]:
    DRAIN_FLAG.clear()
    yield DRAIN_FLAG
    DRAIN_FLAG.clear()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """A problem document (RFC 9457) with the given status, and nothing that looks like a traceback."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == PROBLEM
    body: dict[str, Any] = json.loads(response.get_data(as_text=True))
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def post_item(client: FlaskClient, payload: object) -> Any:
    return client.post(ITEMS, json=payload)


# --- service endpoints ------------------------------------------------------------------------------------


def test_index_names_the_service_and_links_every_endpoint(client: FlaskClient) -> None:
    body = client.get("/").get_json()
    # The name itself is the app's to change (the tutorial's first ship changes it), so it is not pinned here.
    assert body["service"] == SERVICE_NAME and isinstance(SERVICE_NAME, str) and SERVICE_NAME.strip()
    assert body["version"]["environment"] == "test"
    assert body["links"] == {
        "health": "/health",
        "ready": "/ready",
        "version": "/version",
        "metrics": "/metrics",
        "items": ITEMS,
    }
    for path in body["links"].values():
        assert client.get(path).status_code == 200, path


def test_health_is_liveness_and_says_what_it_checks(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["check"] == "liveness"
    assert body["checks"] == {"process": "ok"}
    assert "No dependency is checked" in body["description"]
    assert response.headers["Cache-Control"] == "no-store"


def test_ready_when_created(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() | {"description": ""} == {
        "status": "ready",
        "ready": True,
        "check": "readiness",
        "description": "",
    }


def test_ready_is_503_while_starting_until_marked_ready() -> None:
    class Starting(TestConfig):
        READY_ON_CREATE = False

    app = create_app(Starting)
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "starting"
    assert response.get_json()["ready"] is False
    assert client.get("/health").status_code == 200
    get_lifecycle(app).mark_ready()
    assert client.get("/ready").status_code == 200


def test_ready_is_503_while_draining_and_the_app_keeps_serving(app: Flask, client: FlaskClient) -> None:
    get_lifecycle(app).start_draining()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "draining"
    assert client.get("/health").status_code == 200
    assert post_item(client, {"name": "late", "quantity": 1}).status_code == 201


def test_shared_drain_flag_drains_every_app_in_the_process(shared_drain_flag: SharedFlag) -> None:
    first, second = create_app(TestConfig).test_client(), create_app(TestConfig).test_client()
    assert first.get("/ready").status_code == 200
    shared_drain_flag.set()
    assert first.get("/ready").get_json()["status"] == "draining"
    assert second.get("/ready").status_code == 503
    shared_drain_flag.clear()
    assert second.get("/ready").status_code == 200


def test_lifecycle_states_with_a_private_flag() -> None:
    flag = SharedFlag()
    lifecycle = Lifecycle(flag)
    assert lifecycle.state is State.STARTING
    lifecycle.mark_ready()
    assert lifecycle.state is State.READY
    flag.set()
    assert lifecycle.state is State.DRAINING


def test_version_reads_the_build_metadata_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_COMMIT", "0123456789abcdef")
    clean_env.setenv("APP_IMAGE_TAG", "0123456-20260101T000000Z")
    clean_env.setenv("APP_BUILD_TIME", "2026-01-01T00:00:00Z")
    clean_env.setenv("APP_ENV", "staging")
    body = create_app(Config).test_client().get("/version").get_json()
    assert body == {
        "version": "0.1.0",
        "commit": "0123456789abcdef",
        "image_tag": "0123456-20260101T000000Z",
        "build_time": "2026-01-01T00:00:00Z",
        "environment": "staging",
    }


def test_version_defaults_to_unknown_without_build_metadata(clean_env: pytest.MonkeyPatch) -> None:
    body = create_app().test_client().get("/version").get_json()
    assert body["commit"] == body["image_tag"] == body["build_time"] == "unknown"
    assert body["environment"] == "dev"


def test_test_config_ignores_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_COMMIT", "from-env")
    clean_env.setenv("LOG_LEVEL", "NOT-A-LEVEL")
    assert create_app(TestConfig).test_client().get("/version").get_json()["commit"] == "unknown"


def test_mapping_config_overrides_defaults_and_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_COMMIT", "from-env")
    clean_env.setenv("APP_IMAGE_TAG", "tag-from-env")
    body = create_app({"APP_COMMIT": "from-mapping"}).test_client().get("/version").get_json()
    assert (body["commit"], body["image_tag"]) == ("from-mapping", "tag-from-env")
    body = create_app({"READ_ENV": False}).test_client().get("/version").get_json()
    assert (body["commit"], body["image_tag"]) == ("unknown", "unknown")


# --- items --------------------------------------------------------------------------------------------------


def test_item_lifecycle_create_get_list_delete(client: FlaskClient) -> None:
    assert client.get(ITEMS).get_json() == {"items": [], "count": 0}
    created = post_item(client, {"name": "widget", "quantity": 3})
    assert created.status_code == 201
    item = created.get_json()
    assert item["name"] == "widget" and item["quantity"] == 3
    assert isinstance(item["id"], int)
    assert item["created_at"].endswith("Z")
    assert created.headers["Location"] == f"{ITEMS}/{item['id']}"
    assert client.get(created.headers["Location"]).get_json() == item
    assert client.get(ITEMS).get_json() == {"items": [item], "count": 1}
    deleted = client.delete(f"{ITEMS}/{item['id']}")
    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    assert_problem(client.delete(f"{ITEMS}/{item['id']}"), 404)
    assert_problem(client.get(f"{ITEMS}/{item['id']}"), 404)
    assert client.get(ITEMS).get_json()["count"] == 0


def test_ids_are_never_reused(client: FlaskClient) -> None:
    first = post_item(client, {"name": "a", "quantity": 0}).get_json()["id"]
    client.delete(f"{ITEMS}/{first}")
    assert post_item(client, {"name": "b", "quantity": 0}).get_json()["id"] != first


def test_edge_values_are_accepted(client: FlaskClient) -> None:
    assert post_item(client, {"name": "x" * 100, "quantity": 0}).status_code == 201
    assert post_item(client, {"name": "ü", "quantity": 10**12}).status_code == 201


def test_each_app_has_its_own_store() -> None:
    first, second = create_app(TestConfig).test_client(), create_app(TestConfig).test_client()
    post_item(first, {"name": "only-here", "quantity": 1})
    assert first.get(ITEMS).get_json()["count"] == 1
    assert second.get(ITEMS).get_json()["count"] == 0


def test_store_is_thread_safe_under_concurrent_creates(client: FlaskClient, app: Flask) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        local = app.test_client()
        for i in range(25):
            item_id = post_item(local, {"name": f"t{n}-{i}", "quantity": i}).get_json()["id"]
            with lock:
                ids.append(item_id)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(ids) == list(range(1, 201))
    assert client.get(ITEMS).get_json()["count"] == 200


def test_a_full_store_evicts_the_oldest_item_and_still_creates() -> None:
    """ITEMS_MAX bounds the store; a create beyond it evicts the oldest item instead of failing (was 507)."""
    client = create_app({"READ_ENV": False, "ITEMS_MAX": 2, "APP_ENV": "test"}).test_client()
    ids = []
    for i in range(5):
        created = post_item(client, {"name": f"n{i}", "quantity": i})
        assert created.status_code == 201, created.get_data(as_text=True)
        ids.append(created.get_json()["id"])
    assert ids == [1, 2, 3, 4, 5]  # ids are never reused, eviction or not
    listed = client.get(ITEMS).get_json()
    assert [item["id"] for item in listed["items"]] == [4, 5] and listed["count"] == 2
    for evicted in (1, 2, 3):
        assert_problem(client.get(f"{ITEMS}/{evicted}"), 404)
    assert client.get(f"{ITEMS}/5").get_json()["name"] == "n4"
    # deleting makes room: the next create evicts nothing
    assert client.delete(f"{ITEMS}/4").status_code == 204
    assert post_item(client, {"name": "n5", "quantity": 5}).status_code == 201
    assert [item["id"] for item in client.get(ITEMS).get_json()["items"]] == [5, 6]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"quantity": 1}, "name", "required"),
        ({"name": "a"}, "quantity", "required"),
        ({"name": 5, "quantity": 1}, "name", "expected a string, got integer"),
        ({"name": None, "quantity": 1}, "name", "expected a string, got null"),
        ({"name": ["a"], "quantity": 1}, "name", "expected a string, got array"),
        ({"name": "a", "quantity": "1"}, "quantity", "expected an integer, got string"),
        ({"name": "a", "quantity": True}, "quantity", "expected an integer, got boolean"),
        ({"name": "a", "quantity": False}, "quantity", "expected an integer, got boolean"),
        ({"name": "a", "quantity": 1.5}, "quantity", "expected an integer, got number"),
        ({"name": "a", "quantity": 1.0}, "quantity", "expected an integer, got number"),
        ({"name": "a", "quantity": {"n": 1}}, "quantity", "expected an integer, got object"),
        ({"name": "a", "quantity": -1}, "quantity", "must be >= 0"),
        ({"name": "", "quantity": 1}, "name", "must not be empty"),
        ({"name": "   ", "quantity": 1}, "name", "must not be empty"),
        ({"name": "x" * 101, "quantity": 1}, "name", "must be at most 100 characters, got 101"),
        ({"name": "a", "quantity": 1, "colour": "red"}, "colour", "unknown field"),
        ({"name": "a", "quantity": 1, "id": 7}, "id", "unknown field"),
    ],
)
def test_invalid_items_are_422_with_the_field_error(
    client: FlaskClient, payload: dict[str, Any], field: str, message: str
) -> None:
    body = assert_problem(post_item(client, payload), 422)
    assert body["type"] == "urn:gitops-lab:problem:validation-error"
    assert {"field": field, "message": message} in body["errors"]
    assert client.get(ITEMS).get_json()["count"] == 0


def test_every_field_error_is_reported_at_once(client: FlaskClient) -> None:
    body = assert_problem(post_item(client, {"name": "", "quantity": True, "extra": 1}), 422)
    assert {e["field"] for e in body["errors"]} == {"name", "quantity", "extra"}
    assert body["detail"] == "Invalid fields: extra, name, quantity."


@pytest.mark.parametrize("payload", [[], [{"name": "a", "quantity": 1}], "text", 3, None, True])
def test_a_body_that_is_not_an_object_is_422(client: FlaskClient, payload: object) -> None:
    body = assert_problem(client.post(ITEMS, data=json.dumps(payload), content_type="application/json"), 422)
    assert body["detail"].startswith("The body must be a JSON object")


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad json",
        b"",
        b'{"name": "a", "quantity": 1',
        b"\xff\xfe\x00garbage",
        b"[" * 50_000,  # nesting deep enough to exhaust the decoder's recursion limit
        b'{"name": "a", "quantity": 1' + b"9" * 5000 + b"}",  # int longer than Python's digit limit
    ],
    ids=["syntax", "empty", "truncated", "not-utf8", "deep-nesting", "huge-int"],
)
def test_malformed_json_is_400(client: FlaskClient, raw: bytes) -> None:
    body = assert_problem(client.post(ITEMS, data=raw, content_type="application/json"), 400)
    assert body["type"] == "urn:gitops-lab:problem:malformed-json"
    assert body["detail"].startswith("The body is not valid JSON")


def test_non_json_content_type_is_415(client: FlaskClient) -> None:
    assert_problem(client.post(ITEMS, data="name=a&quantity=1", content_type="text/plain"), 415)
    assert_problem(client.post(ITEMS, data={"name": "a", "quantity": "1"}), 415)


def test_oversized_body_is_413(client: FlaskClient) -> None:
    big = json.dumps({"name": "a", "quantity": 1, "pad": "x" * (64 * 1024)})
    body = assert_problem(client.post(ITEMS, data=big, content_type="application/json"), 413)
    assert "65536 bytes" in body["detail"]
    assert body["type"] == "about:blank"
    assert body["title"] == "Request Entity Too Large"


def post_streamed(client: FlaskClient, body: bytes) -> Any:
    """A body without Content-Length, as a server hands over a Transfer-Encoding: chunked request: an input that
    ends with the body (the server sets wsgi.input_terminated, as gunicorn does)."""
    stream = io.BytesIO(body)
    return client.post(
        ITEMS,
        input_stream=stream,
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    ), stream


def test_oversized_body_without_content_length_is_413_and_read_to_its_end(client: FlaskClient) -> None:
    big = json.dumps({"name": "a", "quantity": 1, "pad": "x" * (2 * 1024 * 1024)}).encode()
    response, stream = post_streamed(client, big)
    assert "65536 bytes" in assert_problem(response, 413)["detail"]
    assert stream.tell() == len(big)  # drained, so that the sending client can read the 413


def test_body_without_content_length_up_to_the_limit_is_read_whole(client: FlaskClient) -> None:
    item = b'{"name": "bolt", "quantity": 4}'
    response, _ = post_streamed(client, item + b" " * (64 * 1024 - len(item)))
    assert response.status_code == 201, response.get_json()


def test_max_content_length_is_configurable() -> None:
    client = create_app({"READ_ENV": False, "MAX_CONTENT_LENGTH": 64, "APP_ENV": "test"}).test_client()
    assert_problem(post_item(client, {"name": "x" * 60, "quantity": 1}), 413)
    assert post_item(client, {"name": "x", "quantity": 1}).status_code == 201


# --- errors as problem documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/v1/items/abc", "/api/v1/items/1/extra", "/api/v2/items"])
def test_unknown_routes_are_404_problems(client: FlaskClient, path: str) -> None:
    body = assert_problem(client.get(path), 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["instance"] == path


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/health", {"GET", "HEAD", "OPTIONS"}),
        ("delete", ITEMS, {"GET", "HEAD", "OPTIONS", "POST"}),
        ("post", f"{ITEMS}/1", {"GET", "HEAD", "OPTIONS", "DELETE"}),
        ("patch", "/version", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_methods_are_405_problems_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(path)
    body = assert_problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert body["title"] == "Method Not Allowed"


def test_unexpected_errors_are_500_problems_and_logged(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [entry for entry in logged if entry["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["message"] == "unhandled error"
    assert errors[0]["path"] == "/boom"
    assert "RuntimeError: secret internal detail" in errors[0]["exc_info"]


def test_debug_endpoints_are_off_by_default(client: FlaskClient) -> None:
    assert_problem(client.get("/debug/slow?seconds=0"), 404)


def test_debug_slow_endpoint_when_enabled() -> None:
    client = create_app({"READ_ENV": False, "APP_DEBUG_ENDPOINTS": True, "APP_ENV": "test"}).test_client()
    assert client.get("/debug/slow?seconds=0.01").get_json() == {"slept_seconds": 0.01}
    for bad in ("-1", "11", "abc", "nan"):
        assert_problem(client.get(f"/debug/slow?seconds={bad}"), 400)


# --- metrics ------------------------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            series, _, value = line.rpartition(" ")
            got = series[len(name) + 1 : -1].split(",")
            if ",".join(sorted(got)) == wanted:
                return float(value)
    return None


def test_metrics_count_requests_by_route_template_and_status(client: FlaskClient) -> None:
    post_item(client, {"name": "a", "quantity": 1})
    client.get(f"{ITEMS}/1")
    client.get(f"{ITEMS}/999")
    client.get(f"{ITEMS}/998")
    client.get("/no/such/path")
    client.put("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    route = "/api/v1/items/<int:item_id>"
    assert sample(text, "http_requests_total", method="GET", route=route, status="200") == 1
    assert sample(text, "http_requests_total", method="GET", route=route, status="404") == 2
    assert sample(text, "http_requests_total", method="POST", route=ITEMS, status="201") == 1
    assert sample(text, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert sample(text, "http_requests_total", method="PUT", route="<unmatched>", status="405") == 1
    assert "/api/v1/items/999" not in text  # raw paths never become labels
    count = sample(text, "http_request_duration_seconds_count", method="GET", route=route, status="404")
    assert count == 2
    bucket = sample(text, "http_request_duration_seconds_bucket", method="GET", route=route, status="404", le="+Inf")
    assert bucket == 2


def test_unknown_methods_share_one_label(client: FlaskClient) -> None:
    client.open("/health", method="BREW")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", method="OTHER", route="<unmatched>", status="405") == 1
    assert "BREW" not in text


def test_each_app_has_its_own_registry() -> None:
    first, second = create_app(TestConfig).test_client(), create_app(TestConfig).test_client()
    for _ in range(3):
        first.get("/health")
    second.get("/health")
    first_text = first.get("/metrics").get_data(as_text=True)
    second_text = second.get("/metrics").get_data(as_text=True)
    assert sample(first_text, "http_requests_total", method="GET", route="/health", status="200") == 3
    assert sample(second_text, "http_requests_total", method="GET", route="/health", status="200") == 1


def test_build_info_metric(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_COMMIT", "abc1234")
    clean_env.setenv("APP_IMAGE_TAG", "abc1234-20260101T000000Z")
    text = create_app(Config).test_client().get("/metrics").get_data(as_text=True)
    labels = {"commit": "abc1234", "environment": "dev", "image_tag": "abc1234-20260101T000000Z", "version": "0.1.0"}
    assert sample(text, "app_build_info", **labels) == 1


# --- logs and configuration ---------------------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines, "no log output"
    entries = [json.loads(line) for line in lines]  # every line is exactly one JSON object
    assert all(isinstance(entry, dict) for entry in entries)
    return entries


def test_logs_are_one_json_object_per_line_with_extras(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    app.logger.info("multi\nline message", extra={"item_id": 7, "who": {"a": 1}})
    try:
        raise ValueError("bad thing")
    except ValueError:
        app.logger.exception("failed")
    entries = json_lines(capsys.readouterr().out)
    assert len(entries) == 2
    first, second = entries
    assert set(first) == {"ts", "level", "logger", "message", "item_id", "who"}
    assert first["level"] == "INFO" and first["logger"] == "app"
    assert first["message"] == "multi\nline message"
    assert first["item_id"] == 7 and first["who"] == {"a": 1}
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["level"] == "ERROR"
    assert "ValueError: bad thing" in second["exc_info"]


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", ["DEBUG", "INFO", "WARNING", "ERROR"]),
        ("info", ["INFO", "WARNING", "ERROR"]),
        ("WARNING", ["WARNING", "ERROR"]),
        ("ERROR", ["ERROR"]),
    ],
)
def test_log_level_filters(capsys: pytest.CaptureFixture[str], level: str, shown: list[str]) -> None:
    app = create_app({"READ_ENV": False, "LOG_LEVEL": level, "APP_ENV": "test"})
    capsys.readouterr()
    for name in ("debug", "info", "warning", "error"):
        getattr(logging.getLogger("app.items"), name)(f"{name} message")
    assert [entry["level"] for entry in json_lines(capsys.readouterr().out)] == shown
    assert app.logger.getEffectiveLevel() == logging.getLevelName(level.upper())


@pytest.mark.parametrize(("env", "level"), [("dev", "DEBUG"), ("staging", "INFO"), ("prod", "ERROR"), ("qa", "INFO")])
def test_log_level_defaults_by_environment(clean_env: pytest.MonkeyPatch, env: str, level: str) -> None:
    clean_env.setenv("APP_ENV", env)
    assert load(Config).log_level == level


def test_log_level_env_var_wins_over_the_environment_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_ENV", "prod")
    clean_env.setenv("LOG_LEVEL", "debug")
    assert load(Config).log_level == "DEBUG"


@pytest.mark.parametrize("bad", ["VERBOSE", "CRITICAL", "10", "INF"])
def test_invalid_log_level_is_a_clear_startup_error(clean_env: pytest.MonkeyPatch, bad: str) -> None:
    clean_env.setenv("LOG_LEVEL", bad)
    with pytest.raises(ConfigError) as info:
        create_app(Config)
    assert str(info.value) == f"LOG_LEVEL={bad!r} is not one of DEBUG, INFO, WARNING, ERROR"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("MAX_CONTENT_LENGTH", "big", "MAX_CONTENT_LENGTH='big' must be a positive integer"),
        ("MAX_CONTENT_LENGTH", "0", "must be a positive integer"),
        ("ITEMS_MAX", "-3", "ITEMS_MAX='-3' must be a positive integer"),
        ("APP_DEBUG_ENDPOINTS", "maybe", "APP_DEBUG_ENDPOINTS='maybe' must be a boolean"),
        ("APP_ENV", "Prod Env", "APP_ENV='Prod Env' is not a valid environment name"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/prometheus", "must be an existing writable directory"),
    ],
)
def test_invalid_settings_are_clear_startup_errors(
    clean_env: pytest.MonkeyPatch, key: str, value: str, fragment: str
) -> None:
    clean_env.setenv(key, value)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        create_app(Config)


def test_max_content_length_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MAX_CONTENT_LENGTH", "100")
    client = create_app(Config).test_client()
    assert_problem(
        client.post(ITEMS, data=json.dumps({"name": "x" * 100, "quantity": 1}), content_type="application/json"), 413
    )


# --- the log writer -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "created",
    [0.0, 1764582112.0, 1764582112.0004994, 1764582112.9995, 1764582112.9999996, 1764582112.123456, 951782399.9996],
)
def test_timestamp_is_the_iso_text_datetime_gives(created: float) -> None:
    expected = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert logs.timestamp(created) == expected
    assert logs.timestamp(created + 1.25) == (
        datetime.fromtimestamp(created + 1.25, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def test_write_line_is_one_write_per_line_and_whole_lines_when_long(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    calls: list[int] = []
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:  # a pipe that takes at most 1000 bytes per call
        calls.append(len(data))
        return real_write(fd, bytes(data[:1000]))

    try:
        monkeypatch.setattr(os, "write", short_write)
        logs.write_line('{"a": "ü"}', write_fd)
        assert calls == [len('{"a": "ü"}'.encode()) + 1]
        calls.clear()
        logs.write_line("x" * 2500, write_fd)  # continued until all of it is written
        assert calls == [2501, 1501, 501]
        monkeypatch.undo()
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "rb") as pipe:
            read_fd = -1
            assert pipe.read() == '{"a": "ü"}\n'.encode() + b"x" * 2500 + b"\n"
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)


def test_write_line_survives_a_closed_stdout() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        logs.write_line("nobody reads this", write_fd)  # EPIPE (SIGPIPE is ignored by Python): no exception
    finally:
        os.close(write_fd)


_THREADED_LOGGING = """
import threading
from app import TestConfig, create_app
app = create_app(TestConfig)
def log(n):
    for i in range(300):
        app.logger.info("line", extra={"worker": n, "i": i, "pad": "x" * (8000 if i % 50 == 0 else 40)})
threads = [threading.Thread(target=log, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_app_logs_from_many_threads_to_a_pipe_are_whole_json_lines() -> None:
    """The real stdout path (no handler lock, one write per line): 8 threads, short and 8 KB lines, no mix-ups."""
    result = subprocess.run(
        [sys.executable, "-c", _THREADED_LOGGING], capture_output=True, text=True, timeout=60, check=True
    )
    entries = json_lines(result.stdout)
    logged = [entry for entry in entries if entry["message"] == "line"]
    assert len(logged) == 8 * 300
    assert sorted((e["worker"], e["i"]) for e in logged) == [(n, i) for n in range(8) for i in range(300)]
    assert all(len(e["pad"]) == (8000 if e["i"] % 50 == 0 else 40) for e in logged)


def test_the_handler_takes_no_lock() -> None:
    """Threads must not queue on the handler for a log line (the logging module's default is one RLock)."""
    create_app(TestConfig)
    (handler,) = [h for h in logging.getLogger("app").handlers if getattr(h, "_gitops_lab", False)]
    handler.acquire()
    try:
        result: list[bool] = []
        thread = threading.Thread(target=lambda: result.append(handler.lock.acquire(timeout=1)))  # type: ignore[union-attr]
        thread.start()
        thread.join(timeout=5)
        assert result == [True]
    finally:
        handler.release()


def test_access_lines_are_batched_in_whole_lines_up_to_pipe_buf_and_flushed_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    writes: list[bytes] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes) -> int:
        if fd == write_fd:
            writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    buffer = logs.LineBuffer(max_bytes=1000, max_delay=0.05, fd=write_fd)
    try:
        lines = [json.dumps({"n": n, "pad": "x" * 80}) for n in range(50)]  # 50 x ~100 bytes
        for line in lines:
            buffer.add(line)
        assert 4 <= len(writes) <= 5  # the full batches are written at once, the rest waits
        assert all(len(w) <= 1000 and w.endswith(b"\n") for w in writes)
        deadline = time.monotonic() + 5
        while len(b"".join(writes).splitlines()) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b"".join(writes).decode().splitlines() == lines  # the tail came without another add()
        buffer.add("x" * 3000)  # longer than a batch: written alone, whole
        assert writes[-1] == b"x" * 3000 + b"\n"
        data = b""
        while chunk := _read_nonblocking(read_fd):
            data += chunk
        assert data.decode().splitlines() == [*lines, "x" * 3000]
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _read_nonblocking(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


# --- a bad release on purpose (APP_FAULT_ROUTES) ------------------------------------------------------------


def test_fault_routes_answer_500_counted_in_the_metrics_and_other_routes_still_work(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("APP_ENV", "dev")
    clean_env.setenv("APP_FAULT_ROUTES", " /api/v1/items , /nothing-here")
    client = create_app(Config).test_client()
    assert_problem(client.get(ITEMS), 500)
    assert client.get("/version").status_code == 200
    assert client.get("/ready").status_code == 200  # the release becomes ready: it serves its errors
    assert client.post(ITEMS, json={"name": "x", "quantity": 1}).status_code == 500  # the rule, every method
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/api/v1/items",status="500"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/version",status="200"} 1.0' in text


def test_without_fault_routes_the_same_requests_succeed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_ENV", "dev")
    assert create_app(Config).test_client().get(ITEMS).status_code == 200


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("prod", "/api/v1/items", "APP_FAULT_ROUTES='/api/v1/items' is refused in prod"),
        ("dev", "api/v1/items", "'api/v1/items' is not a URL rule"),
    ],
)
def test_fault_routes_are_refused_in_prod_and_must_be_url_rules(
    clean_env: pytest.MonkeyPatch, env: str, value: str, fragment: str
) -> None:
    clean_env.setenv("APP_ENV", env)
    clean_env.setenv("APP_FAULT_ROUTES", value)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        create_app(Config)
