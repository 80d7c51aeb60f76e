"""Which failures end a job for good, the retries a dead job gets, and what needs an
operator: pure decisions."""

import pytest
from rq.exceptions import ShutDownImminentException
from rq.timeouts import JobTimeoutException

from connector.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from jobs.backoff import death_retry
from jobs.deaths import is_final
from jobs.retry import BACKOFF
from jobs.status import needs_operator


@pytest.mark.parametrize(
    ("error", "final"),
    [
        (FatalError("REQUIRED_FIELD_MISSING"), True),
        (SkippableError("nothing to do"), True),
        (ConfigurationError("WECHAT_TOKEN is not set"), True),
        (RetriableError("503"), False),
        (RateLimitedError("45011", retry_after=60), False),
        (ConnectionError("Redis went away"), False),  # retried like a death
        (JobTimeoutException("stuck"), False),
        (ShutDownImminentException("SIGTERM", {}), False),  # a dyno restart
    ],
)
def test_only_a_bridge_failure_that_is_not_retriable_ends_a_job(error, final):
    assert is_final(error) is final


def test_a_dead_job_is_retried_on_the_common_backoff_with_jitter():
    retry = death_retry()
    assert retry.max == len(BACKOFF)
    assert all(d <= i <= d + max(1, d // 5) for d, i in zip(BACKOFF, retry.intervals,
                                                             strict=True))


def queues(changes=0, messages=0):
    return {"changes": {"failed_count": changes}, "messages": {"failed_count": messages}}


@pytest.mark.parametrize(
    ("status", "needs"),
    [
        ({"failed_count": 0, "unhandled": 5, "queues": queues()}, []),  # kept: no one
        ({"failed_count": 2, "unhandled": 0, "queues": queues()},
         ["2 failed inbound jobs: fix what their reasons name, then `connector replay --all`"]),
        ({"failed_count": 0, "unhandled": 0, "queues": queues(changes=1, messages=3)},
         ["1 failed changes jobs: fix what their reasons name, then "
          "`connector sync replay --all`",
          "3 failed messages jobs: fix what their reasons name, then "
          "`connector messages send --request ID`"]),
    ],
)
def test_what_needs_an_operator(status, needs):
    assert needs_operator(status) == needs
