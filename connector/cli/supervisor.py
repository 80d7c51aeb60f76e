"""``connector run``'s supervisor: one child process per role, each restarted when it dies.

Heroku restarts a crashed dyno by itself; on a single machine this does it. A child
that exits without being asked to (a crash, an ``OOM`` kill, a ``kill -9``) is logged
with its exit status and started again after a delay that doubles from one second up to
a minute while it keeps dying young, and starts short again once a child has run for a
minute. SIGTERM or SIGINT stops them all (SIGTERM, then SIGKILL after ``grace`` s).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
HEALTHY_SECONDS = 60.0  # a child that lived this long before dying was healthy
TICK = 0.2


def describe_exit(code: int) -> str:
    """``code`` (a Popen returncode) as an operator reads it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class Child:
    """One supervised role: its process, when it started, and how often it died young."""

    role: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started: float = 0.0
    deaths: int = 0
    restart_at: float | None = None
    restarts: int = 0

    def launch(self) -> None:
        self.process = self.start()
        self.started = time.monotonic()
        self.restart_at = None


class Supervisor:
    """Runs ``starters`` (role → a function starting that role's process) until stopped.

    Args:
        starters: each role's start function, called again to restart it.
        grace: seconds children get to stop on SIGTERM before SIGKILL.
    """

    def __init__(self, starters: dict[str, Callable[[], subprocess.Popen]],
                 grace: float = 10.0) -> None:
        self.children = [Child(role, start) for role, start in starters.items()]
        self.grace = grace
        self.stopping = False

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Start every child, restart those that die, and stop them all on SIGTERM or
        SIGINT. Returns 0 (the exit was asked for)."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                child.launch()
            while not self.stopping:
                self.check()
                time.sleep(TICK)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def check(self, now: float | None = None) -> None:
        """Notice children that died (log why, schedule their restart) and restart those
        whose delay is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                if now - child.started >= HEALTHY_SECONDS:
                    child.deaths = 0
                delay = min(MAX_DELAY, FIRST_DELAY * 2 ** child.deaths)
                child.deaths += 1
                child.restart_at = now + delay
                log.error("%s (pid %d) %s; restarting it in %.0f s", child.role, process.pid,
                          describe_exit(process.returncode), delay)
            elif child.restart_at is not None and now >= child.restart_at:
                child.launch()
                child.restarts += 1
                log.info("%s restarted (pid %d)", child.role, child.process.pid)

    def stop_all(self) -> None:
        """SIGTERM every running child, then SIGKILL those still running after ``grace``."""
        running = [c.process for c in self.children
                   if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
