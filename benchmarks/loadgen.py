"""A lean open-loop HTTP/1.1 load generator (asyncio streams, keep-alive).

httpx costs more CPU per request than the server under test, which on a 2-core machine
makes the client the bottleneck. Requests are sent on a fixed schedule whatever the
answers; latency is measured from each request's *scheduled* time, so a client or
server that falls behind shows up in the figures instead of hiding (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import time
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
