"""The clock's job: poll Salesforce for changes (:func:`connector.wayback.poll.poll`).

The clock (``jobs/clock.py``) registers :func:`poll_changes` by this dotted path, and
rq keeps it with every poll job queued: it stays here across releases.

The poll is background work: it skips (the clock's next tick is its re-schedule) while
Salesforce calls are paused for the daily API limit, and while the org's usage is above
the bridge's allocation (``SALESFORCE_API_ALLOCATION``), keeping the rest of the limit
for inbound events (``jobs/pausing.py``, ``connector/salesforce/budget.py``). A watermark
is only advanced by a poll that ran, so a skipped one loses nothing.

Any other retriable failure (a Salesforce 503, say) retries with the common backoff
(``jobs/retry.py``), as any job does; the clock's next polls run meanwhile. A poll that
failed for good and was followed by one that went through needs nobody: each poll reads
from the watermarks the last good one left, so ``connector status`` no longer counts it
(:mod:`jobs.periodic`).
"""

from __future__ import annotations

from typing import Any

from rq import Retry

from connector.errors import RetriableError
from connector.replies.keyword_records import load_if_missing
from connector.salesforce.limits import is_daily_limit
from connector.wayback.poll import poll
from jobs import periodic
from jobs.deaths import entry_point
from jobs.pausing import budget_of, pause_for, paused_why
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context

SKIPPED = "skipped"


@entry_point
def poll_changes() -> dict[str, Any] | Retry:
    """Poll every watched object once; each object's summary, by name, or the status
    ``held: <why>``.

    Raises:
        FatalError: Salesforce refused the query, or a retriable failure outlasted the
            retries.
    """
    ctx = get_context()
    why = paused_why(ctx)
    if why is None and not budget_of(ctx).allows("poll"):
        return {"status": "held: the org's API usage is above the bridge's allocation"}
    if why is not None:
        return {"status": f"held: Salesforce calls are paused ({why})"}
    try:
        # The poll sees changes only: rules cached nowhere yet (a new deployment, a
        # Redis that lost its data) are read on the tick, one EXISTS when they are.
        loaded = load_if_missing(ctx)
        result = poll(ctx)
        if loaded:
            result = {**result, "keywords_loaded": True}
    except RetriableError as error:
        if is_daily_limit(error):
            return {"status": f"held: Salesforce calls are paused ({pause_for(ctx, error)})"}
        return retry_or_give_up(error, "change poll")
    if not str(result.get("status", "")).startswith(SKIPPED):  # another poll was running
        periodic.note_success(ctx.redis, "jobs.poll.poll_changes")
    return result
