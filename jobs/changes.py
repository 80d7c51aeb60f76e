"""The change job: re-read some changed records of one object and run every watch on
them (:func:`connector.wayback.changes.run_watches`).

Enqueued by the clock's poll and by Outbound Messages (:func:`jobs.queues.enqueue_changes`)
on the ``changes`` queue. Retriable failures retry with the common backoff
(:mod:`jobs.retry`); fatal ones fail the job, which ``connector sync status`` lists and
``connector sync replay`` runs again.
"""

from __future__ import annotations

from typing import Any

from rq import Retry

from connector import logs
from connector.errors import RetriableError
from connector.wayback.changes import run_watches
from jobs.deaths import entry_point
from jobs.pausing import hold_while_paused
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context


@entry_point
def handle_changes(object_name: str, record_ids: list[str]) -> dict[str, Any] | Retry:
    """Re-read ``record_ids`` of ``object_name`` and run every watch on them.

    Raises:
        FatalError: Salesforce refused the query (a watched field is missing, say) or a
            retriable failure outlasted the retries.
    """
    ctx, what = get_context(), f"changes of {len(record_ids)} {object_name}"
    # Salesforce's REST answers carry no request id: the records name the work instead
    logs.set_context(records=",".join(record_ids[:20]))
    waiting = hold_while_paused(ctx, what)  # the daily API limit
    if waiting is not None:
        return waiting
    try:
        return run_watches(ctx, object_name, record_ids)
    except RetriableError as error:
        return retry_or_give_up(error, what)
