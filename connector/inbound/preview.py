"""``connector mappings preview``: the exact Salesforce writes one push would cause.

The worker's own steps (profile, plan, person lookups, planned writes), stopping before
any write: it reads from WeChat and Salesforce and changes nothing there (the field
lengths ``fit`` needs are cached in Redis, as the worker does).
"""

from __future__ import annotations

from typing import Any

from connector.context import WorkerContext
from connector.events import InboundEvent
from connector.inbound import touches
from connector.inbound.apply import prepare
from connector.inbound.batch import follower_of, profiles_for, unknown_account
from connector.inbound.lengths import field_lengths
from connector.wechat import MalformedPushError, parse_push
from mappings.engine import UnmappedEvent, plan_event


def preview_push(ctx: WorkerContext, xml: str) -> dict[str, Any]:
    """The event, its follower, its plan and the writes, as JSON-safe data.

    Raises:
        ValueError: ``xml`` is not a WeChat push (the message says what is wrong).
        BridgeError: a read from WeChat or Salesforce failed.
    """
    try:
        fields, _ = parse_push(xml)
        event = InboundEvent.from_fields(fields)
    except (MalformedPushError, ValueError) as exc:
        raise ValueError(f"not a WeChat push: {exc}") from None
    why_not = unknown_account(ctx, event)
    if why_not is not None:
        return {"event": event.to_dict(), "follower": None, "writes": [], "kept": why_not}
    follower = follower_of(event, profiles_for(ctx, [event], refresh=False))
    result: dict[str, Any] = {"event": event.to_dict(), "follower": follower.to_dict()}
    try:
        plan = plan_event(event, follower, ctx.mapping, field_lengths(ctx))
    except UnmappedEvent as why:
        return {**result, "writes": [], "kept": str(why)}
    touched = touches.peek(ctx.redis, touches.touches_of([plan], {plan.key: event}))
    _, writes = prepare(ctx.salesforce, [plan], touched)
    return {**result, "notes": list(plan.notes), "writes": [w.to_json() for w in writes]}
