"""app/gunicorn.conf.py: its settings from the environment, and real gunicorn runs of the app on 127.0.0.1.

The real runs start ``sys.executable -m gunicorn`` in a new session (so teardown can end exactly that process
group), talk to it with bounded requests only, and check the graceful drain end to end: SIGTERM → /ready 503
while /health and in-flight requests are still served → listener closed → in-flight request completes → exit 0.
"""

from __future__ import annotations

import http.client
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.settings import Config

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "app" / "gunicorn.conf.py"
APP_ENV_KEYS = (
    *Config.ENV_KEYS,  # what the app reads, plus what gunicorn.conf.py reads:
    "PORT",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_CMD_ARGS",
    "DRAIN_SECONDS",
)


ACCESS_FIELDS = ("ts", "level", "logger", "message", "method", "path", "query", "status", "duration_ms", "bytes")
ACCESS_FIELDS += ("remote_addr", "user_agent", "protocol")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, path: str, method: str = "GET", timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- the settings file ----------------------------------------------------------------------------------------


@pytest.fixture
def conf_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in APP_ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def load_conf() -> dict[str, Any]:
    return runpy.run_path(str(CONF))


def test_defaults(conf_env: pytest.MonkeyPatch) -> None:
    conf = load_conf()
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert (conf["workers"], conf["threads"], conf["timeout"], conf["graceful_timeout"]) == (2, 4, 30, 20)
    assert conf["DRAIN_SECONDS"] == 5.0
    assert conf["worker_tmp_dir"] == ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    assert conf["logger_class"] == "app.gunicorn_logging.GunicornJsonLogger"
    assert (conf["errorlog"], conf["accesslog"]) == ("-", "-")
    assert conf["loglevel"] == "debug"  # APP_ENV defaults to dev
    assert conf["control_socket_disable"] is True


def test_settings_from_env(conf_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    multiproc = tmp_path / "metrics" / "nested"
    for key, value in {
        "PORT": "9090",
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "1",
        "GUNICORN_TIMEOUT": "12",
        "GUNICORN_GRACEFUL_TIMEOUT": "7",
        "DRAIN_SECONDS": "0.5",
        "APP_ENV": "prod",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }.items():
        conf_env.setenv(key, value)
    conf = load_conf()
    assert conf["bind"] == ["0.0.0.0:9090"]
    assert (conf["workers"], conf["threads"], conf["timeout"], conf["graceful_timeout"]) == (3, 1, 12, 7)
    assert conf["DRAIN_SECONDS"] == 0.5
    assert conf["loglevel"] == "error"
    assert multiproc.is_dir()


def test_on_starting_wipes_only_metric_files(conf_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_123.db").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("x")
    load_conf()["on_starting"](object())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("GUNICORN_WORKERS", "many", "GUNICORN_WORKERS='many' must be an integer"),
        ("GUNICORN_WORKERS", "0", "GUNICORN_WORKERS='0' must be >= 1"),
        ("PORT", "http", "PORT='http' must be an integer"),
        ("DRAIN_SECONDS", "-1", "DRAIN_SECONDS='-1' must be seconds between 0 and 300"),
        ("DRAIN_SECONDS", "soon", "DRAIN_SECONDS='soon' must be seconds between 0 and 300"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_invalid_settings_stop_with_one_clear_line(
    conf_env: pytest.MonkeyPatch, key: str, value: str, message: str
) -> None:
    conf_env.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        load_conf()
    assert str(info.value) == f"gitops-lab: invalid configuration: {message}"


# --- real gunicorn --------------------------------------------------------------------------------------------


class Gunicorn:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, stdout: Path, stderr: Path) -> None:
        self.proc, self.port, self.stdout, self.stderr = proc, port, stdout, stderr

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}: {self.stderr.read_text()}")
            try:
                if request(self.port, "/health", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gunicorn not healthy after {timeout}s")

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.read_text().splitlines()]


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    started: list[Gunicorn] = []

    def start(wait: bool = True, **env: str) -> Gunicorn:
        port = free_port()
        full_env = {k: v for k, v in os.environ.items() if k not in APP_ENV_KEYS}
        full_env.update({"LOG_LEVEL": "INFO", "GUNICORN_WORKERS": "2", "DRAIN_SECONDS": "0"})
        full_env.update(env)
        n = len(started)
        stdout, stderr = tmp_path / f"gunicorn{n}.out", tmp_path / f"gunicorn{n}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(CONF), "-b", f"127.0.0.1:{port}", "app:create_app()"],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: teardown ends exactly these processes
            )
        server = Gunicorn(proc, port, stdout, stderr)
        started.append(server)
        if wait:
            server.wait_healthy()
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)


def test_gunicorn_serves_the_app_with_json_logs(start_gunicorn: Callable[..., Gunicorn]) -> None:
    server = start_gunicorn(APP_ENV="staging", APP_COMMIT="c0ffee")
    assert request(server.port, "/ready")[0] == 200
    status, body = request(server.port, "/version")
    assert status == 200
    assert json.loads(body)["commit"] == "c0ffee"
    assert json.loads(body)["environment"] == "staging"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0
    entries = server.log()  # every stdout line parses as one JSON object
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in entries)
    access = [e for e in entries if e["logger"] == "gunicorn.access" and e["path"] == "/version"]
    assert len(access) == 1
    assert list(access[0]) == [*ACCESS_FIELDS]
    assert access[0]["status"] == 200 and access[0]["method"] == "GET"
    assert access[0]["message"] == "GET /version 200" and access[0]["level"] == "INFO"
    assert (access[0]["query"], access[0]["protocol"], access[0]["remote_addr"]) == ("", "HTTP/1.1", "127.0.0.1")
    assert isinstance(access[0]["duration_ms"], float)
    assert access[0]["bytes"] == len(body)  # the body bytes sent
    assert any(e["logger"] == "gunicorn.error" and e["message"].startswith("Listening at") for e in entries)
    assert sum(e["logger"] == "app" and e["message"] == "app created" for e in entries) == 2  # one per worker
    assert "Traceback" not in server.stderr.read_text()


def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_0(
    start_gunicorn: Callable[..., Gunicorn],
) -> None:
    drain, grace = 1.5, 10
    server = start_gunicorn(
        DRAIN_SECONDS=str(drain), GUNICORN_GRACEFUL_TIMEOUT=str(grace), APP_DEBUG_ENDPOINTS="1", GUNICORN_THREADS="4"
    )
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            slow["result"] = request(server.port, "/debug/slow?seconds=3", timeout=15)
        except OSError as exc:
            slow["error"] = exc
        slow["done_at"] = time.monotonic()

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)  # the slow request is now being handled
    sent_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)

    # During the drain: /ready 503, /health 200, the listener still accepts.
    seen: list[tuple[int, int]] = []
    while time.monotonic() < sent_at + drain - 0.4 and len(seen) < 20:
        seen.append((request(server.port, "/ready", timeout=2)[0], request(server.port, "/health", timeout=2)[0]))
        time.sleep(0.1)
    assert seen, "no request made during the drain"
    assert seen[-1] == (503, 200), seen
    assert all(health == 200 for _, health in seen)

    # After the drain gunicorn's own graceful stop begins (listener closed, workers told to stop) while the slow
    # request is still in flight. (Probing the port would not show it: the busy worker keeps its copy of the
    # listening socket until it exits, so the kernel still completes handshakes nobody will accept.)
    stop_logged = False
    while time.monotonic() < sent_at + drain + 2 and not stop_logged:
        stop_logged = any(e["message"].startswith("drain over") for e in server.log())
        time.sleep(0.05)
    assert stop_logged, "gunicorn did not start stopping after the drain"
    assert time.monotonic() - sent_at >= drain - 0.1
    assert thread.is_alive(), "the slow request finished before the stop began: nothing was in flight"

    thread.join(timeout=15)
    assert not thread.is_alive()
    assert "error" not in slow, slow
    status, body = slow["result"]
    assert (status, json.loads(body)) == (200, {"slept_seconds": 3.0})
    assert server.proc.wait(timeout=drain + grace + 5) == 0
    assert time.monotonic() - sent_at < drain + grace
    messages = [e["message"] for e in server.log()]
    assert messages.index("GET /debug/slow 200") > messages.index(
        next(m for m in messages if m.startswith("drain over"))
    )
    assert any(m.startswith("SIGTERM: draining") for m in messages)


def test_a_second_sigterm_skips_the_rest_of_the_drain(start_gunicorn: Callable[..., Gunicorn]) -> None:
    server = start_gunicorn(DRAIN_SECONDS="60")
    server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and request(server.port, "/ready", timeout=2)[0] != 503:
        time.sleep(0.05)
    assert request(server.port, "/ready", timeout=2)[0] == 503
    second = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - second < 5


def test_invalid_log_level_stops_gunicorn_at_startup(start_gunicorn: Callable[..., Gunicorn]) -> None:
    server = start_gunicorn(wait=False, LOG_LEVEL="LOUD")
    assert server.proc.wait(timeout=15) != 0
    stderr = server.stderr.read_text()
    assert "gitops-lab: invalid configuration: LOG_LEVEL='LOUD' is not one of DEBUG, INFO, WARNING, ERROR" in stderr
    assert "Traceback" not in stderr


def test_multiprocess_metrics_add_up_over_workers(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    # Sync workers (1 thread) handle one request at a time: two concurrent 1 s requests that finish in well
    # under 2 s were served by two different worker processes.
    multiproc = tmp_path / "prometheus"
    server = start_gunicorn(
        GUNICORN_WORKERS="2", GUNICORN_THREADS="1", APP_DEBUG_ENDPOINTS="1", PROMETHEUS_MULTIPROC_DIR=str(multiproc)
    )
    results: list[int] = []

    def slow_request() -> None:
        results.append(request(server.port, "/debug/slow?seconds=1", timeout=10)[0])

    started = time.monotonic()
    threads = [threading.Thread(target=slow_request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [200, 200]
    assert time.monotonic() - started < 1.8, "the two requests were not served by two workers at once"
    text = request(server.port, "/metrics")[1].decode()
    line = 'http_requests_total{method="GET",route="/debug/slow",status="200"} 2.0'
    assert line in text.splitlines()
    assert len(list(multiproc.glob("counter_*.db"))) == 2


def post_chunked(port: int, path: str, body: bytes, chunk: int = 16 * 1024) -> tuple[int, dict[str, str], bytes]:
    """POST BODY with Transfer-Encoding: chunked and no Content-Length, as a streaming client sends it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=(body[i : i + chunk] for i in range(0, len(body), chunk)),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_is_413_not_cut(start_gunicorn: Callable[..., Gunicorn]) -> None:
    """MAX_CONTENT_LENGTH holds for a body without Content-Length too: refused whole, never read as its first
    64 KiB (which would be malformed JSON)."""
    server = start_gunicorn()
    limit = Config.MAX_CONTENT_LENGTH
    big = json.dumps({"name": "bolt", "quantity": 1, "padding": "x" * 2 * 1024 * 1024}).encode()
    status, headers, body = post_chunked(server.port, "/api/v1/items", big)
    assert (status, headers["Content-Type"]) == (413, "application/problem+json"), body
    assert json.loads(body)["detail"] == f"The request body is larger than the limit of {limit} bytes."

    # exactly at the limit is still accepted, and so is a small chunked body
    item = b'{"name": "bolt", "quantity": 4}'
    exact = item + b" " * (limit - len(item))
    for payload in (exact, item):
        status, _, body = post_chunked(server.port, "/api/v1/items", payload, chunk=1000)
        assert status == 201, body
        assert json.loads(body)["name"] == "bolt"


def test_debug_level_logs_one_line_per_request_the_access_line(start_gunicorn: Callable[..., Gunicorn]) -> None:
    """gunicorn's default pre_request hook logs "GET /version" at DEBUG for every request: not here (conf)."""
    server = start_gunicorn(LOG_LEVEL="DEBUG", APP_ENV="dev")
    for _ in range(3):
        assert request(server.port, "/version")[0] == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0
    entries = server.log()
    assert any(e["level"] == "DEBUG" for e in entries)  # DEBUG is on: gunicorn logs its start-up at DEBUG
    about_version = [e for e in entries if "/version" in e["message"]]
    assert [e["logger"] for e in about_version] == ["gunicorn.access"] * 3, about_version


_ACCESS_SCRIPT = """
import datetime, json, logging, sys
from types import SimpleNamespace
from gunicorn.config import Config
from app.gunicorn_logging import GunicornJsonLogger
records = []
logging.getLogger("gunicorn.access").addFilter(lambda record: records.append(record) or True)
cfg = Config()
cfg.set("accesslog", sys.argv[1])
cfg.set("errorlog", "-")
log = GunicornJsonLogger(cfg)
environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/it\u00e9ms", "QUERY_STRING": "a=\\"1\\"",
           "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "t\u00e9st/1", "SERVER_PROTOCOL": "HTTP/1.1"}
log.access(SimpleNamespace(status="201 CREATED", sent=321), None, environ, datetime.timedelta(microseconds=1234))
log.access(SimpleNamespace(status="999", sent=None), None, environ, datetime.timedelta(seconds=2))
print(json.dumps({"records": len(records)}))
"""


@pytest.mark.integration  # two Python processes running gunicorn's logger (tests/tiers.py)
def test_the_access_line_on_stdout_is_written_directly_and_equals_the_formatted_record(tmp_path: Path) -> None:
    """accesslog "-" (the image's setting): no LogRecord, buffered lines; the same JSON as the logging path."""
    direct = subprocess.run(
        [sys.executable, "-c", _ACCESS_SCRIPT, "-"], capture_output=True, text=True, timeout=30, check=True, cwd=ROOT
    )
    summary = [line for line in direct.stdout.splitlines() if line.startswith('{"records"')]
    lines = [line for line in direct.stdout.splitlines() if not line.startswith('{"records"')]
    assert [json.loads(line) for line in summary] == [{"records": 0}]
    logfile = tmp_path / "access.log"
    via_logging = subprocess.run(
        [sys.executable, "-c", _ACCESS_SCRIPT, str(logfile)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(via_logging.stdout.splitlines()[-1]) == {"records": 2}
    expected = [json.loads(line) for line in logfile.read_text().splitlines()]
    got = [json.loads(line) for line in lines]
    assert [list(entry) for entry in got] == [[*ACCESS_FIELDS]] * 2
    for entry in (*got, *expected):
        assert entry.pop("ts").endswith("Z")
    assert got == expected
    assert got[0]["path"] == "/api/v1/itéms" and got[0]["query"] == 'a="1"' and got[0]["status"] == 201
    assert (got[0]["bytes"], got[0]["duration_ms"]) == (321, 1.234)
    assert (got[1]["bytes"], got[1]["duration_ms"], got[1]["status"]) == (None, 2000.0, 999)


def test_access_lines_reach_stdout_soon_while_the_server_keeps_running(start_gunicorn: Callable[..., Gunicorn]) -> None:
    """Access lines are buffered per worker, but an idle server still writes them within a moment."""
    server = start_gunicorn()
    assert request(server.port, "/version?soon=1")[0] == 200
    deadline = time.monotonic() + 5
    seen: list[dict[str, Any]] = []
    while not seen and time.monotonic() < deadline:
        seen = [e for e in server.log() if e["logger"] == "gunicorn.access" and e["query"] == "soon=1"]
        time.sleep(0.02)
    assert server.proc.poll() is None
    assert len(seen) == 1 and seen[0]["status"] == 200


@pytest.mark.integration  # a real gunicorn process (tests/tiers.py)
def test_a_sigterm_that_reaches_a_worker_before_its_signal_handlers_stops_it(tmp_path: Path) -> None:
    """gunicorn's master SIGTERMs its workers when it stops; one forked a moment earlier still has the master's
    handler, which only queues the signal. A config that wraps the app's post_fork with a pause holds a worker in
    that window while the test signals it: the worker must stop once booted, not serve on."""
    conf = tmp_path / "gunicorn_slow_fork.py"
    conf.write_text(
        "import os, time\n"
        f"exec(compile(open({str(CONF)!r}).read(), {str(CONF)!r}, 'exec'))\n"
        "_app_post_fork = post_fork\n"
        "def post_fork(server, worker):\n"
        "    _app_post_fork(server, worker)\n"
        "    open(os.environ['FORKED_FILE'], 'a').write(f'{os.getpid()}\\n')\n"
        "    time.sleep(1.5)  # the window: gunicorn installs the worker's own handlers after this hook\n"
    )
    forked = tmp_path / "forked"
    env = {k: v for k, v in os.environ.items() if k not in APP_ENV_KEYS}
    env.update({"LOG_LEVEL": "INFO", "GUNICORN_WORKERS": "1", "DRAIN_SECONDS": "0", "FORKED_FILE": str(forked)})
    out = tmp_path / "gunicorn.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(conf), "-b", f"127.0.0.1:{free_port()}", "app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while not forked.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert forked.exists(), out.read_text()
        first = int(forked.read_text().split()[0])
        os.kill(first, signal.SIGTERM)  # inside the pause: the worker still has the master's handler
        stopped = False
        while time.monotonic() < deadline and not stopped:
            try:
                os.kill(first, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                stopped = True
        assert stopped, f"the worker signalled while starting serves on:\n{out.read_text()}"
        assert "a stop signal came while this worker was starting" in out.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
