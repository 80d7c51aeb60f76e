"""The mapping preview of the console: what the mapping in force plans for a pasted push.

The mapping's own engine, a pure function (``mappings/engine.py``), on the push alone: the
follower is what the push says (no WeChat profile is read) and no Salesforce lookup is
made, because the web process never reaches the worker's context. ``connector mappings
preview`` (``connector/inbound/preview.py``) adds both, read-only, from a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.errors import BridgeError
from connector.events import InboundEvent
from connector.follower import Follower
from connector.wechat import MalformedPushError, parse_push
from mappings.engine import UnmappedEvent, plan_event
from mappings.loader import load_mapping

MAX_XML = 64 * 1024  # a push is a few hundred bytes; WeChat's own cap is far below this


def plan_push(mapping_file: Path | str, xml: str) -> dict[str, Any]:
    """The event and the plan the mapping makes of it (``kept``: why it is not handled).

    Raises:
        ValueError: ``xml`` is not a WeChat push, or the mapping file does not load (the
            message says what is wrong).
    """
    if not xml.strip():
        raise ValueError("paste a WeChat push (the XML WeChat POSTs to the callback)")
    if len(xml) > MAX_XML:
        raise ValueError(f"that is not a push: over {MAX_XML // 1024} KB")
    try:
        fields, _ = parse_push(xml)
        event = InboundEvent.from_fields(fields)
    except (MalformedPushError, ValueError) as exc:
        raise ValueError(f"not a WeChat push: {exc}") from None
    try:
        mapping = load_mapping(mapping_file)
    except BridgeError as exc:
        raise ValueError(f"the mapping in force does not load: {exc.message}") from None
    follower = Follower(openid=event.openid, subscribed=event.event != "unsubscribe")
    try:
        plan = plan_event(event, follower, mapping)
    except UnmappedEvent as why:
        return {"event": event.to_dict(), "kept": str(why)}
    return {"event": event.to_dict(), "plan": plan.to_dict()}
