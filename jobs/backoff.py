"""The backoff every job shares, pure: how long before each retry, with jitter, and the
``Retry`` a job is enqueued with for when its process dies.

Kept apart from ``jobs/retry.py`` (which reads the running job and the pause for the daily
API limit) so that the web process, which only enqueues, imports nothing of the worker.
"""

from __future__ import annotations

import math
import random

from rq import Retry

from connector.errors import RetriableError

# Seconds before each retry: a minute-long outage heals by the 4th; the last is ~1 h out.
BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900, 1800)
MAX_RETRIES = len(BACKOFF)


def retry_delay(error: RetriableError, retries_done: int) -> int | None:
    """Seconds to wait before the next attempt, or None to give up.

    Args:
        error: the failure of the attempt that just ran.
        retries_done: how many retries already happened (0 after the first attempt).
    """
    if retries_done >= MAX_RETRIES:
        return None
    delay = BACKOFF[retries_done]
    if error.retry_after:
        delay = max(delay, math.ceil(error.retry_after))
    return delay


def with_jitter(delay: int, rng: random.Random | None = None) -> int:
    """``delay`` plus up to 20 %, so a crowd of retries doesn't return as one."""
    rng = rng or random.Random()  # noqa: S311 - spreading retries, not cryptography
    return delay + rng.randint(0, max(1, delay // 5))



def death_retry() -> Retry:
    """The ``Retry`` every job is enqueued with: after a death, wait the common backoff
    (jittered, so a crowd of killed jobs does not come back as one), at most
    ``len(BACKOFF)`` times; then the failed registry, with how it died
    (``jobs/deaths.py``)."""
    return Retry(max=len(BACKOFF), interval=[with_jitter(d) for d in BACKOFF])
