"""A clock the tests move by hand: the emulators and the bridge take any ``() -> float``."""

from __future__ import annotations


class Clock:
    """Returns ``now`` (seconds since the epoch) until a test sets or advances it."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
