"""The memory of processes the benchmarks start, read from /proc (Linux).

Why not ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: a child started with ``subprocess``
(vfork, then exec) takes the *spawning* process's high-water mark into its own maxrss at
exec (the kernel's ``exec_mmap`` keeps the larger of the old and the new), so a command
spawned by a benchmark that holds the emulators reports the benchmark's size, not its
own. ``VmHWM`` in ``/proc/PID/status`` is the high-water mark of the process's own
memory since its exec; RSS and PSS come from ``smaps_rollup`` (PSS divides each page a
fork shares among the processes sharing it, so a parent and its fork do not count the
shared pages twice).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...) alive now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found.append(int(child))
                    todo.append(int(child))
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in kB; (0, 0) when it is gone."""
    rss = pss = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def high_water_kb(pid: int) -> int:
    """``VmHWM`` of ``pid`` in kB (its peak RSS since its exec); 0 when it is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@dataclass
class Peaks:
    """Peaks seen over a run, in kB: of one of the processes with its children (RSS and
    PSS summed), of all of them together, and of each process alone (``by_pid``: whether
    it was one of those sampled or a child, its own peak RSS and PSS)."""

    rss: int = 0
    pss: int = 0
    total_rss: int = 0
    high_water: int = 0
    by_pid: dict[int, tuple[str, int, int]] = field(default_factory=dict)

    def by_kind(self) -> dict[str, tuple[int, int, int]]:
        """``parent`` (the processes sampled) and ``child``: how many were seen, and the
        largest RSS and PSS one of them had, in kB."""
        kinds: dict[str, tuple[int, int, int]] = {}
        for kind, rss, pss in self.by_pid.values():
            seen, top_rss, top_pss = kinds.get(kind, (0, 0, 0))
            kinds[kind] = (seen + 1, max(top_rss, rss), max(top_pss, pss))
        return kinds


class MemorySampler(threading.Thread):
    """Samples each of ``pids`` (the process and all its children) every ``every`` s:
    the largest summed RSS and PSS of one of them with its children, of all of them
    together, each process's own peak RSS and PSS, and the largest ``VmHWM`` of the
    ``pids`` themselves."""

    def __init__(self, pids: list[int], every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.peaks = Peaks()
        self.stop = threading.Event()

    def sample(self) -> None:
        peaks, total = self.peaks, 0
        for pid in self.pids:
            family = [pid, *descendants(pid)]
            parts = [memory_kb(p) for p in family]
            for p, (rss, pss) in zip(family, parts, strict=True):
                kind = "parent" if p == pid else "child"
                _, top_rss, top_pss = peaks.by_pid.get(p, (kind, 0, 0))
                peaks.by_pid[p] = (kind, max(top_rss, rss), max(top_pss, pss))
            rss, pss = sum(r for r, _ in parts), sum(p for _, p in parts)
            peaks.rss, peaks.pss = max(peaks.rss, rss), max(peaks.pss, pss)
            peaks.high_water = max(peaks.high_water, high_water_kb(pid))
            total += rss
        peaks.total_rss = max(peaks.total_rss, total)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()

    def finish(self) -> Peaks:
        """Stop sampling; the peaks."""
        self.stop.set()
        self.join()
        return self.peaks
