"""A time limit for a block of code: every call the fuzz tests make must answer within a bound."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

BOUND = 5.0  # seconds: every call must answer (a result or a MatdiffError) within this


class _Hang(BaseException):
    """Raised by SIGALRM: a BaseException, so that no ``except Exception`` on the way swallows it."""


@contextmanager
def time_limit(seconds: float = BOUND) -> Iterator[None]:
    """Fail with TimeoutError if the block runs longer than ``seconds`` (SIGALRM; main thread only)."""

    def on_alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Hang:
        raise TimeoutError(f"took longer than {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
