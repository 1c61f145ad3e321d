"""gunicorn settings: ``gunicorn -c app/gunicorn.conf.py 'app:create_app()'`` (run from app/'s parent dir).

Environment (defaults in brackets):
  PORT [8000]                      bind 0.0.0.0:PORT (a ``-b`` on the command line wins, e.g. 127.0.0.1 in tests)
  GUNICORN_WORKERS [2]             worker processes; a container gets its CPU share from Kubernetes, so no
                                   cpu_count() formula (it would see the node's CPUs, not the pod's limit)
  GUNICORN_THREADS [4]             threads per worker (> 1 selects the gthread worker)
  GUNICORN_TIMEOUT [30]            seconds a silent worker may live before the master kills it
  GUNICORN_GRACEFUL_TIMEOUT [20]   seconds in-flight requests get after the drain, before SIGKILL
  DRAIN_SECONDS [5]                seconds between SIGTERM and closing the listener, see below
  PROMETHEUS_MULTIPROC_DIR         aggregate metrics over all workers (created and wiped at startup)

Graceful shutdown (Kubernetes sends SIGTERM to PID 1, this master, and at the same time starts removing the
pod from the Service's endpoints; both take a moment, so a pod that closes its socket at once drops requests):
  1. SIGTERM reaches the master. Its ``handle_term`` (wrapped in ``when_ready`` below) sets the drain flag, a
     byte of shared memory every worker inherited at fork (app/lifecycle.py), and arms a timer; it does not
     stop anything yet. Every worker's ``/ready`` now answers 503 "draining"; ``/health`` stays 200 and all
     other requests are served as usual, so the readiness probe takes the pod out of the endpoints.
  2. After DRAIN_SECONDS the timer (SIGALRM) queues a SIGTERM again and gunicorn's own graceful stop runs:
     the listener closes, workers get SIGTERM, stop accepting, finish in-flight requests, and exit; the master
     exits 0. A worker still busy after GUNICORN_GRACEFUL_TIMEOUT is killed. A second SIGTERM during the drain
     skips the rest of it; SIGINT/SIGQUIT stop at once, as in plain gunicorn.
  Keep DRAIN_SECONDS + GUNICORN_GRACEFUL_TIMEOUT below the pod's terminationGracePeriodSeconds (default 30).
"""

from __future__ import annotations

import glob
import os
import signal
from typing import Any

from app import lifecycle, logs
from app import settings as app_settings


def _int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"gitops-lab: invalid configuration: {name}={raw!r} must be an integer") from None
    if value < minimum:
        raise SystemExit(f"gitops-lab: invalid configuration: {name}={raw!r} must be >= {minimum}")
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not 0 <= value <= 300:
        raise SystemExit(f"gitops-lab: invalid configuration: {name}={raw!r} must be seconds between 0 and 300")
    return value


_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
if _MULTIPROC_DIR:
    try:
        os.makedirs(_MULTIPROC_DIR, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"gitops-lab: cannot create PROMETHEUS_MULTIPROC_DIR={_MULTIPROC_DIR!r}: {exc}") from None

# Validate the app's settings here, in the master: a bad LOG_LEVEL stops gunicorn with one clear line
# instead of every worker failing to boot in a loop.
try:
    _SETTINGS = app_settings.load()
except app_settings.ConfigError as exc:
    raise SystemExit(f"gitops-lab: invalid configuration: {exc}") from None

DRAIN_SECONDS = _float_env("DRAIN_SECONDS", 5.0)

bind = [f"0.0.0.0:{_int_env('PORT', 8000, 1)}"]
workers = _int_env("GUNICORN_WORKERS", 2, 1)
threads = _int_env("GUNICORN_THREADS", 4, 1)
timeout = _int_env("GUNICORN_TIMEOUT", 30, 1)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 20, 1)
keepalive = 5
# The workers' heartbeat files. /dev/shm is a tmpfs in Docker and Kubernetes, so it is writable with a
# read-only root filesystem even without the /tmp emptyDir, and never blocks on a slow disk.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108
# The control socket (gunicornc) is not used; it would need a writable $HOME and a thread in the master.
control_socket_disable = True
# Logs: JSON lines on stdout, gunicorn's error log and one access line per request (app/gunicorn_logging.py);
# no per-request DEBUG line (pre_request below).
logger_class = "app.gunicorn_logging.GunicornJsonLogger"
errorlog = "-"
accesslog = "-"
loglevel = _SETTINGS.log_level.lower()
capture_output = False
proc_name = "gitops-lab-app"


def pre_request(worker: Any, req: Any) -> None:
    """Worker, before each request: nothing. gunicorn's default hook logs "METHOD PATH" at DEBUG for every
    request, a second line per request in dev that says less than the access line, which is always written."""


def on_starting(server: Any) -> None:
    """Master, once: start multiprocess metrics from zero (prometheus_client asks for a wiped directory)."""
    if _MULTIPROC_DIR:
        for path in glob.glob(os.path.join(_MULTIPROC_DIR, "*.db")):
            os.remove(path)


def when_ready(server: Any) -> None:
    """Master: make SIGTERM drain first (see the module docstring)."""
    stop = server.handle_term  # gunicorn's own: raises StopIteration → graceful stop
    draining = False

    def handle_term() -> None:
        nonlocal draining
        lifecycle.DRAIN_FLAG.set()
        if draining or DRAIN_SECONDS <= 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            server.log.info("drain over: closing the listener, workers finish in-flight requests")
            stop()
            return
        draining = True
        server.log.info(
            "SIGTERM: draining, /ready answers 503 while requests are still served",
            extra={"drain_seconds": DRAIN_SECONDS, "graceful_timeout": graceful_timeout},
        )
        # The master's main loop runs this method; the alarm only queues the next SIGTERM (no work in handlers).
        signal.signal(signal.SIGALRM, lambda signum, frame: server.signal(signal.SIGTERM, frame))
        signal.setitimer(signal.ITIMER_REAL, DRAIN_SECONDS)

    server.handle_term = handle_term


# Signals that stop a worker (gunicorn workers/base.py init_signals: SIGTERM graceful, SIGINT/SIGQUIT quick).
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})


def post_fork(server: Any, worker: Any) -> None:
    """Worker, right after the fork, before gunicorn installs the worker's signal handlers: keep the master's
    signal queue as this process inherited it (see post_worker_init)."""
    worker.inherited_signal_queue = server.SIG_QUEUE


def post_worker_init(worker: Any) -> None:
    """Worker, once its own signal handlers are in place: honour a stop signal that came before them.

    Until workers/base.py init_process calls init_signals, a new worker still has the master's handler
    (gunicorn 27 arbiter.py ``signal``: it only queues the signal in SIG_QUEUE, which a worker never reads). A
    SIGTERM that the master sends while a worker is that young (`invoke down`, a rollout, a test that stops
    the server as soon as one worker answers) would be lost: the worker would serve on until the master's
    graceful_timeout ran out and it was killed. Its copy of the queue holds that signal: stop as asked."""
    queue = getattr(worker, "inherited_signal_queue", None)
    while queue is not None and not queue.empty():
        if queue.get_nowait() in _STOP_SIGNALS:
            worker.log.info("a stop signal came while this worker was starting: it stops now")
            worker.alive = False


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, on its way out: write the access lines still buffered (app/logs.py ACCESS_LINES)."""
    logs.ACCESS_LINES.flush()


def child_exit(server: Any, worker: Any) -> None:
    """Master: a worker exited; drop its live-gauge files (multiprocess metrics)."""
    if _MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _MULTIPROC_DIR)  # type: ignore[no-untyped-call]
