"""lab.core.poll.Poller: immediate first look, intervals growing to a cap, never sleeping past the deadline, one look
at the deadline, and Ctrl-C passing through."""

from __future__ import annotations

import pytest

from lab.core.poll import Poller


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_intervals_grow_by_the_factor_up_to_the_maximum_and_the_last_sleep_ends_at_the_deadline() -> None:
    clock = Clock()
    looks = list(Poller(10.0, first=1.0, factor=2.0, maximum=3.0, clock=clock, sleep=clock.sleep))
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0, 1.0]  # 1+2+3+3 = 9, then only the 1 s left
    assert looks == [0.0, 1.0, 3.0, 6.0, 9.0, 10.0]  # the last look is at the deadline
    assert clock.now == 110.0


def test_a_caller_that_is_satisfied_stops_the_loop_without_sleeping_again() -> None:
    clock = Clock()
    poller = Poller(60.0, clock=clock, sleep=clock.sleep)
    for _ in poller:
        if poller.looks == 3:
            break
    assert clock.sleeps == [0.2, 0.3]
    assert poller.looks == 3


def test_factor_one_is_a_fixed_interval() -> None:
    clock = Clock()
    assert len(list(Poller(1.0, first=0.25, factor=1.0, clock=clock, sleep=clock.sleep))) == 5
    assert clock.sleeps == [0.25] * 4


def test_start_continues_an_earlier_stopwatch() -> None:
    clock = Clock()
    looks = list(Poller(5.0, first=1.0, factor=1.0, clock=clock, sleep=clock.sleep, start=97.0))
    assert looks == [3.0, 4.0, 5.0]


def test_zero_timeout_looks_once() -> None:
    clock = Clock()
    assert list(Poller(0.0, clock=clock, sleep=clock.sleep)) == [0.0]
    assert clock.sleeps == []


def test_ctrl_c_during_a_sleep_reaches_the_caller() -> None:
    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    poller = Poller(10.0, sleep=interrupted)
    looks = []
    with pytest.raises(KeyboardInterrupt):
        for elapsed in poller:
            looks.append(elapsed)
    assert len(looks) == 1


@pytest.mark.parametrize("first, factor, maximum", [(0.0, 1.5, 2.0), (1.0, 0.5, 2.0), (3.0, 1.5, 2.0)])
def test_intervals_that_do_not_grow_are_refused(first: float, factor: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="poll intervals"):
        Poller(1.0, first=first, factor=factor, maximum=maximum)
