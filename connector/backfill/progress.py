"""The backfill's progress, as a person watching it sees it.

In a terminal, a tqdm bar (followers done of WeChat's total, the rate and the ETA, and
the persons created and matched so far); otherwise (a log file, a Heroku one-off dyno's
output) a plain line per :data:`LINE_EVERY` seconds and at the end. tqdm is imported only
for the bar, when it is shown.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import IO, Protocol

LINE_EVERY = 10.0  # seconds between two plain progress lines


class Progress(Protocol):
    def start(self, total: int, done: int) -> None:
        """The follower count WeChat gives and how many are done already (a resumed run)."""

    def advance(self, n: int, created: int, matched: int, skipped: int) -> None:
        """``n`` more followers done, with what they gave."""

    def close(self) -> None:
        """The run ended."""


class _Quiet:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, n: int, created: int, matched: int, skipped: int) -> None:
        pass

    def close(self) -> None:
        pass


def quiet() -> Progress:
    """Progress nobody watches (tests, the library call)."""
    return _Quiet()


class Lines:
    """Plain lines: ``backfill: 2,000/10,000 followers (20%), 340/s, ETA 0:00:23``."""

    def __init__(self, out: IO[str], every: float = LINE_EVERY) -> None:
        self.out, self.every = out, every
        self.total = self.done = self.at_start = 0
        self.created = self.matched = self.skipped = 0
        self.since = self.last = time.monotonic()

    def start(self, total: int, done: int) -> None:
        if not self.total:
            self.at_start, self.since = done, time.monotonic()
        self.total, self.done = max(total, done), done

    def advance(self, n: int, created: int, matched: int, skipped: int) -> None:
        self.done += n
        self.created, self.matched = self.created + created, self.matched + matched
        self.skipped += skipped
        if time.monotonic() - self.last >= self.every:
            self.line()

    def line(self) -> None:
        self.last = time.monotonic()
        elapsed = max(self.last - self.since, 1e-6)
        rate = (self.done - self.at_start) / elapsed
        left = max(self.total - self.done, 0)
        eta = str(timedelta(seconds=round(left / rate))) if rate > 0 else "?"
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        self.out.write(f"backfill: {self.done:,}/{self.total:,} followers{share}, "
                       f"{rate:,.0f}/s, ETA {eta}; this run: {self.created:,} created, "
                       f"{self.matched:,} matched, {self.skipped:,} skipped\n")
        self.out.flush()

    def close(self) -> None:
        self.line()


class Bar:
    """A tqdm bar on ``out`` (a terminal)."""

    def __init__(self, out: IO[str]) -> None:
        self.out, self.bar = out, None
        self.created = self.matched = self.skipped = 0

    def start(self, total: int, done: int) -> None:
        if self.bar is None:  # ``initial``: a resumed run's rate counts this run only
            from tqdm import tqdm

            self.bar = tqdm(total=max(total, done), initial=done, unit="follower",
                            unit_scale=True, file=self.out, dynamic_ncols=True,
                            desc="backfill")
        else:
            self.bar.total = max(total, done)
            self.bar.refresh()

    def advance(self, n: int, created: int, matched: int, skipped: int) -> None:
        self.created, self.matched = self.created + created, self.matched + matched
        self.skipped += skipped
        if self.bar is None:
            return
        self.bar.set_postfix(created=self.created, matched=self.matched,
                             skipped=self.skipped, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def for_stream(out: IO[str] | None = None) -> Progress:
    """A bar when ``out`` (stderr by default) is a terminal, plain lines otherwise."""
    out = out or sys.stderr
    return Bar(out) if out.isatty() else Lines(out)
