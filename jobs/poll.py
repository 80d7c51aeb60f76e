"""The clock's job: poll Salesforce for changes (:func:`connector.wayback.poll.poll`).

The clock (``jobs/clock.py``) registers :func:`poll_changes` by this dotted path, and
rq keeps it with every poll job queued: it stays here across releases.

The poll is background work: it skips (the clock's next tick is its re-schedule) while
Salesforce calls are paused for the daily API limit, and while the org's usage is above
the bridge's allocation (``SALESFORCE_API_ALLOCATION``), keeping the rest of the limit
for inbound events (``jobs/pausing.py``, ``connector/salesforce/budget.py``). A watermark
is only advanced by a poll that ran, so a skipped one loses nothing.
"""

from __future__ import annotations

from typing import Any

from connector.errors import RetriableError
from connector.replies.keyword_records import load_if_missing
from connector.salesforce.limits import is_daily_limit
from connector.wayback.poll import poll
from jobs.pausing import budget_of, pause_for, paused_why
from jobs.runtime import get_context


def poll_changes() -> dict[str, Any]:
    """Poll every watched object once; each object's summary, by name, or the status
    ``held: <why>``.

    Raises:
        RetriableError, FatalError: Salesforce failed (but for the daily limit).
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
        summary = poll(ctx)
        return {**summary, "keywords_loaded": True} if loaded else summary
    except RetriableError as error:
        if not is_daily_limit(error):
            raise
        return {"status": f"held: Salesforce calls are paused ({pause_for(ctx, error)})"}
