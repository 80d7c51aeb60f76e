"""Message requests ticked in Salesforce → their send jobs.

The way back's change job hands :func:`dispatch_requests` the changed request records
(the watch ``message_requests``, :mod:`connector.wayback.watches`). Each request with
"send now" ticked gets a send job (``ctx.queues.message_request``) whose id is made from
the record's SystemModstamp, so repeated notices of one tick add one job.
"""

from __future__ import annotations

from typing import Any

from connector.context import WorkerContext


def dispatch_requests(ctx: WorkerContext, records: list[dict]) -> dict[str, Any]:
    """The change handler: a send job for each request whose "send now" is ticked."""
    fields = ctx.mapping.messages.request
    enqueued, waiting = [], 0
    for record in records:
        if record.get("IsDeleted") or not record.get(fields.send):
            continue
        stamp = str(record.get("SystemModstamp") or record.get("LastModifiedDate") or "")
        job_id = ctx.queues.message_request(str(record["Id"]), stamp)
        if job_id is None:
            waiting += 1
        else:
            enqueued.append(job_id)
    return {"enqueued": enqueued, "already_queued": waiting}
