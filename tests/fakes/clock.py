"""A fake monotonic clock for pollers and waits (lab/core/poll.py, ApplicationClient, GitOpsRepo)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Clock:
    """A monotonic clock that only moves when something sleeps: pass it as ``clock`` and ``clock.sleep``."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
