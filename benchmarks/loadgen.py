"""A lean open-loop HTTP/1.1 load generator (asyncio streams, keep-alive).

httpx costs more CPU per request than the server under test, which on a 2-core machine
makes the client the bottleneck. Requests are sent on a fixed schedule whatever the
answers; latency is measured from each request's *scheduled* time, so a client or
server that falls behind shows up in the figures instead of hiding (no coordinated
omission).

``python -m benchmarks.loadgen`` runs :func:`deliver_load` as a process of its own (the
event-hall benchmark's independent load generator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit


def build_request(url: str, query: dict[str, str], body: bytes) -> bytes:
    parts = urlsplit(url)
    head = (f"POST {parts.path}?{urlencode(query)} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    if length:
        await reader.readexactly(length)
    return status


async def run_load(url: str, requests: list[bytes], rate: float,
                   max_connections: int = 64) -> list[float]:
    """Send ``requests`` at ``rate`` per second; return each latency in seconds.

    Raises:
        RuntimeError: a response other than 200.
    """
    parts = urlsplit(url)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    slots = asyncio.Semaphore(max_connections)

    async def one(raw: bytes, scheduled: float) -> None:
        async with slots:
            for attempt in (1, 2):
                if idle and attempt == 1:
                    reader, writer = idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                try:
                    writer.write(raw)
                    status = await _read_response(reader)
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()  # the server closed an idle keep-alive connection
            latencies.append(time.perf_counter() - scheduled)
            idle.append((reader, writer))
        if status != 200:
            raise RuntimeError(f"HTTP {status}")

    tasks, start = [], time.perf_counter()
    for i, raw in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return latencies


@dataclass
class Deliveries:
    """What a WeChat-like delivery run did: wall-clock times (epoch seconds) of the first
    and last push's first attempt, pushes acknowledged (a 200 at some attempt), attempts
    in all, and each acknowledged push's latency (from its scheduled time to its 200)."""

    first_sent: float
    last_sent: float
    pushes: int
    acknowledged: int
    attempts: int
    latencies: list[float]


async def deliver_load(url: str, requests: list[bytes], rate: float, *, resends: int = 3,
                       timeout: float = 5.0, max_connections: int = 256) -> Deliveries:
    """Send ``requests`` at ``rate`` per second as WeChat delivers a push: an answer other
    than 200, or none within ``timeout`` seconds, and the same push is sent again, up to
    ``resends`` more times (WeChat waits 5 s and resends three times). Never raises for
    an answer: a push never acknowledged counts as such."""
    parts = urlsplit(url)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    counts = {"acknowledged": 0, "attempts": 0}
    slots = asyncio.Semaphore(max_connections)

    async def attempt(raw: bytes) -> int | None:
        async with slots:
            while True:
                reused = bool(idle)
                if reused:
                    reader, writer = idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                try:
                    writer.write(raw)
                    status = await asyncio.wait_for(_read_response(reader), timeout)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    if reused:  # the server closed an idle keep-alive connection
                        continue
                    return None
                except TimeoutError:
                    writer.close()  # no answer in time: WeChat gives up on this attempt
                    return None
                idle.append((reader, writer))
                return status

    async def one(raw: bytes, scheduled: float) -> None:
        for _ in range(1 + resends):
            counts["attempts"] += 1
            if await attempt(raw) == 200:
                counts["acknowledged"] += 1
                latencies.append(time.perf_counter() - scheduled)
                return

    tasks, start, wall = [], time.perf_counter(), time.time()
    last = wall
    for i, raw in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        last = time.time()
        tasks.append(asyncio.create_task(one(raw, scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return Deliveries(wall, last, len(requests), counts["acknowledged"], counts["attempts"],
                      latencies)


def write_requests(path: Path, requests: list[bytes]) -> None:
    """Requests for :func:`main` to send (one JSON list, bytes as latin-1 text)."""
    path.write_text(json.dumps([r.decode("latin-1") for r in requests]))


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.loadgen URL FILE --rate R``: send the requests of FILE
    (:func:`write_requests`) as WeChat would; print :class:`Deliveries` as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen")
    parser.add_argument("url")
    parser.add_argument("file", type=Path)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--resends", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    requests = [r.encode("latin-1") for r in json.loads(args.file.read_text())]
    result = asyncio.run(deliver_load(args.url, requests, args.rate, resends=args.resends,
                                      timeout=args.timeout))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
