"""The one poller: look, and look again after growing intervals, until the caller is satisfied or a deadline passes.

    for elapsed in Poller(timeout, clock=..., sleep=...):
        status = read()
        if done(status):
            return status
    raise NotReady(what, last_state, timeout)          # the loop ended: the deadline passed

API
- ``Poller(timeout, *, first=0.2, factor=1.5, maximum=2.0, clock=time.monotonic, sleep=time.sleep, start=None)``.
  Iterating yields the seconds elapsed since ``start`` (default: when iteration begins) before each look. The first
  look is immediate. After a look the poller stops when the deadline (``start + timeout``) has passed; otherwise it
  sleeps ``min(interval, time left)`` and the interval grows ``x factor`` up to ``maximum`` (``factor=1``: a fixed
  interval). So there is always one look at or just after the deadline, and no sleep past it.
- ``start``: measure from an earlier moment on the same clock (a wait that continues a demo's running stopwatch).
- ``elapsed`` and ``remaining`` (properties) read the clock; ``looks`` counts the looks so far.
- ``clock`` and ``sleep`` are injectable: unit tests drive the poller with a fake clock whose sleep advances it.

Interrupt safety: the poller holds no resource and catches nothing. Ctrl-C (KeyboardInterrupt) during a look or a
sleep propagates unchanged to the caller, so whoever owns the state being waited on (GitOpsRepo's transaction, a
step's ui.phase) decides what the interruption means; an exception raised by the caller's look ends the loop the
same way. The poller never calls anything but ``clock`` and ``sleep``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


class Poller:
    def __init__(
        self,
        timeout: float,
        *,
        first: float = 0.2,
        factor: float = 1.5,
        maximum: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        start: float | None = None,
    ) -> None:
        if first <= 0 or factor < 1 or maximum < first:
            raise ValueError(
                f"poll intervals grow from first > 0 by factor >= 1 to maximum >= first: {first, factor, maximum}"
            )
        self.timeout = timeout
        self.first, self.factor, self.maximum = first, factor, maximum
        self.clock, self.sleep = clock, sleep
        self.start = start
        self.looks = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - (self.start if self.start is not None else self.clock())

    @property
    def remaining(self) -> float:
        return self.timeout - self.elapsed

    def __iter__(self) -> Iterator[float]:
        if self.start is None:
            self.start = self.clock()
        interval = self.first
        while True:
            self.looks += 1
            yield self.elapsed
            remaining = self.remaining
            if remaining <= 0:
                return
            self.sleep(min(interval, remaining))
            interval = min(interval * self.factor, self.maximum)
