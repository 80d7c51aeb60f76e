"""Blocking Redis calls made from the web app's async handlers: off the event loop, and
never awaited longer than a deadline.

WeChat waits 5 seconds for an answer, then resends (three tries in all), so a push must
be answered within that, Redis or not. The web app's Redis client gives up on its own
(``connector.redis_connection.connect`` with the short timeouts of ``webhooks/app.py``),
and :class:`OffLoop` bounds the wait whatever happens underneath: a call that has not
returned within ``deadline`` seconds is abandoned (its thread finishes, or times out, on
its own) and the handler answers 5xx, so WeChat resends. Whatever the abandoned call
still does is harmless: an enqueue is idempotent (its job id is the event's key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# Within WeChat's 5 s, with room for the network and the rest of the handler.
DEADLINE = 2.5
# Threads for Redis calls: each call takes well under a millisecond while Redis is up;
# while it is away, each waits at most its client's timeouts.
THREADS = 32


class OffLoop:
    """Runs blocking calls in its own threads (``threads`` at most), each awaited at most
    ``deadline`` seconds."""

    def __init__(self, deadline: float = DEADLINE, threads: int = THREADS) -> None:
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="web-redis")

    async def __call__(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in a thread.

        Raises:
            TimeoutError: no answer within the deadline (the call is left to finish).
            Whatever ``func`` raises.
        """
        future = asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
        return await asyncio.wait_for(future, self.deadline)
