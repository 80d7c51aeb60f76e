import random

import pytest

from connector.errors import FatalError, RateLimitedError, RetriableError
from jobs.retry import (
    BACKOFF,
    MAX_RETRIES,
    gave_up,
    retry_delay,
    retry_or_give_up,
    with_jitter,
)


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


def test_a_retriable_failure_returns_a_retry_with_the_backoff():
    retry = retry_or_give_up(RetriableError("503"), "event wx-evt-1", done=2)
    assert retry.max == MAX_RETRIES + 1
    assert BACKOFF[2] <= retry.intervals[0] <= BACKOFF[2] * 1.2 + 1


def test_giving_up_keeps_everything_the_failure_said():
    """Every job gives up through one helper: the failed registry shows the code, the
    fields and the request id Salesforce sent (two of the three copies it replaced
    dropped some of them)."""
    error = RetriableError("UNABLE_TO_LOCK_ROW: unable to obtain exclusive access",
                           system="salesforce", status=400, code="UNABLE_TO_LOCK_ROW",
                           request_id="4Zp0000abc", fields=["Status__c"])
    with pytest.raises(FatalError) as raised:
        retry_or_give_up(error, "message request a0Z000000000001AAA", done=MAX_RETRIES)
    final = raised.value
    assert (final.system, final.status, final.code, final.request_id, final.fields) == (
        "salesforce", 400, "UNABLE_TO_LOCK_ROW", "4Zp0000abc", ["Status__c"])
    assert str(final).startswith(f"[salesforce 400 UNABLE_TO_LOCK_ROW] gave up after "
                                 f"{MAX_RETRIES} retries")
    assert str(final).count("(request id 4Zp0000abc)") == 1  # said once, not twice
    assert str(final).count("(fields: Status__c)") == 1
    assert gave_up(error).fields is not error.fields  # a copy: the original is left alone
