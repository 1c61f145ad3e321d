"""Readiness: starting → ready → draining, and the drain flag that gunicorn's master shares with its workers.

How "draining" reaches every gunicorn worker: ``DRAIN_FLAG`` is one byte of anonymous shared memory
(``mmap(-1, 1)`` is ``MAP_SHARED | MAP_ANONYMOUS``). ``gunicorn.conf.py`` imports this module in the master,
before any worker is forked, so every worker maps the same page. On SIGTERM the master sets the byte; each
worker's ``/ready`` reads it and answers 503 while the worker keeps serving through the drain period. No file,
no signal to the workers and no IPC: it works with a read-only root filesystem and costs one memory read.
Outside gunicorn (tests, ``flask run``) the flag is simply process-local.
"""

from __future__ import annotations

import mmap
import threading
from enum import StrEnum


class SharedFlag:
    """A boolean in anonymous shared memory: set in a parent, visible in children forked after creation."""

    def __init__(self) -> None:
        self._mem = mmap.mmap(-1, 1)

    def set(self) -> None:
        self._mem[0] = 1

    def clear(self) -> None:
        self._mem[0] = 0

    def is_set(self) -> bool:
        return self._mem[0] == 1


# Created at import: gunicorn.conf.py imports this module in the master so that the workers inherit it.
DRAIN_FLAG = SharedFlag()


class State(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


class Lifecycle:
    """Readiness of one app instance; draining if this instance or the shared (process-wide) flag says so."""

    def __init__(self, shared: SharedFlag = DRAIN_FLAG) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._draining = False
        self._shared = shared

    def mark_ready(self) -> None:
        with self._lock:
            self._ready = True

    def start_draining(self) -> None:
        with self._lock:
            self._draining = True

    @property
    def state(self) -> State:
        with self._lock:
            if self._draining or self._shared.is_set():
                return State.DRAINING
            return State.READY if self._ready else State.STARTING
