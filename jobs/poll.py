"""The clock's job: poll Salesforce for changes (:func:`connector.wayback.poll.poll`).

The clock (``jobs/clock.py``) registers :func:`poll_changes` by this dotted path, and
rq keeps it with every poll job queued: it stays here across releases.

A retriable failure (a Salesforce 503, say) retries with the common backoff
(``jobs/retry.py``), as any job does; the clock's next polls run meanwhile. A poll that
failed for good and was followed by one that went through needs nobody: each poll reads
from the watermarks the last good one left, so ``connector status`` no longer counts it
(:mod:`jobs.periodic`).
"""

from __future__ import annotations

from typing import Any

from rq import Retry

from connector.errors import RetriableError
from connector.wayback.poll import poll
from jobs import periodic
from jobs.deaths import entry_point
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context

SKIPPED = "skipped"


@entry_point
def poll_changes() -> dict[str, Any] | Retry:
    """Poll every watched object once; each object's summary, by name.

    Raises:
        FatalError: Salesforce refused the query, or a retriable failure outlasted the
            retries.
    """
    ctx = get_context()
    try:
        result = poll(ctx)
    except RetriableError as error:
        return retry_or_give_up(error, "change poll")
    if not str(result.get("status", "")).startswith(SKIPPED):  # another poll was running
        periodic.note_success(ctx.redis, "jobs.poll.poll_changes")
    return result
