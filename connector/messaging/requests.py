"""Message request records in Salesforce, outside a run: the follower record a request
names, a new request, and a request's report (``connector messages send | status``).
"""

from __future__ import annotations

from typing import Any

from connector.context import WorkerContext
from connector.messaging.outcomes import RequestView, read_requests

FOLLOWER = "SELECT Id FROM {:literal} WHERE {:literal} = {openid}"


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


def request_report(ctx: WorkerContext, message_id: str) -> RequestView | None:
    """The request ``message_id`` with its counts and every skip and failure by reason
    (:mod:`.outcomes`, as the console reads it); None when no request record has the Id.

    Raises:
        BridgeError: a query failed (from the gateway).
    """
    messages = ctx.mapping.messages
    views = read_requests(ctx.salesforce, messages.request, messages.recipient, ctx.redis,
                          ids=[message_id], max_rows=None)
    return views[0] if views else None
