"""Message request records in Salesforce, outside a run: the follower record a request
names, a new request, and a request's report (``connector messages send | status``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.context import WorkerContext
from connector.messaging.records import read_recipients

FOLLOWER = "SELECT Id FROM {:literal} WHERE {:literal} = {openid}"
REQUEST = ("SELECT {:literal}, {:literal}, {:literal}, {:literal}, {:literal}, {:literal}, "
           "{:literal} FROM {:literal} WHERE Id = {record}")


def follower_record(ctx: WorkerContext, openid: str) -> str | None:
    """The Id of the follower record of ``openid``, or None (not in Salesforce yet).

    Raises:
        BridgeError: the query failed (from the gateway).
    """
    follower = ctx.mapping.follower
    rows = ctx.salesforce.query(FOLLOWER, follower.object, follower.external_id,
                                openid=openid)
    return str(rows[0]["Id"]) if rows else None


def create_request(ctx: WorkerContext, values: dict[str, Any]) -> str:
    """A new request record with ``values`` (field → value); its Id.

    Raises:
        BridgeError: Salesforce refused it (from the gateway).
    """
    return ctx.salesforce.create(ctx.mapping.messages.request.object, values)


def request_report(ctx: WorkerContext, message_id: str) -> dict[str, Any] | None:
    """What the request ``message_id`` did: its status, counts and error, and why its
    recipients were skipped or failed (reason code → how many); None when no request
    record has the Id.

    Raises:
        BridgeError: a query failed (from the gateway).
    """
    f = ctx.mapping.messages.request
    rows = ctx.salesforce.query(REQUEST, "Id", f.status, f.sent, f.skipped, f.failed,
                                f.delivered, f.error, f.object, record=message_id)
    if not rows:
        return None
    request, r = rows[0], ctx.mapping.messages.recipient
    reasons = Counter(str(x.get(r.reason) or "").split(":", 1)[0]
                      for x in read_recipients(ctx.salesforce, r, str(request["Id"]))
                      if x.get(r.status) in ("skipped", "failed"))
    return {"id": request["Id"], "status": request.get(f.status),
            "sent": int(request.get(f.sent) or 0),
            "skipped": int(request.get(f.skipped) or 0),
            "failed": int(request.get(f.failed) or 0),
            "delivered": int(request.get(f.delivered) or 0),
            "error": request.get(f.error), "reasons": dict(reasons.most_common())}
