import random

import pytest

from connector.errors import RateLimitedError, RetriableError
from jobs.retry import BACKOFF, MAX_RETRIES, retry_delay, with_jitter


@pytest.mark.parametrize(
    ("error", "retries_done", "expected"),
    [
        (RetriableError("503"), 0, BACKOFF[0]),
        (RetriableError("503"), 3, BACKOFF[3]),
        (RateLimitedError("45011", retry_after=60), 0, 60),  # the server's hint wins
        (RateLimitedError("limit", retry_after=2.2), 2, BACKOFF[2]),  # ...but never shorter
        (RetriableError("503"), MAX_RETRIES, None),  # give up
    ],
)
def test_retry_delay(error, retries_done, expected):
    assert retry_delay(error, retries_done) == expected


def test_a_minute_long_outage_is_covered_before_giving_up():
    assert sum(BACKOFF[:4]) >= 60


def test_jitter_is_bounded_and_pinnable():
    rng = random.Random(1)
    values = {with_jitter(100, rng) for _ in range(200)}
    assert min(values) >= 100 and max(values) <= 120 and len(values) > 5
    assert with_jitter(100, random.Random(5)) == with_jitter(100, random.Random(5))
