"""A time limit for one block of a test, so a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

WATCHDOG_SECONDS = 60


@contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block runs longer than ``seconds`` (main thread)."""

    def expire(_sig: int, _frame: object) -> None:
        raise AssertionError(f"no answer within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
