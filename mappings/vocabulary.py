"""The words of the mapping grammar: where values come from (sources), Salesforce API
names and the event kinds WeChat pushes, with the checks that name the closest word on a
typo. ``mappings.models`` re-exports them.
"""

from __future__ import annotations

import difflib
from dataclasses import fields as dataclass_fields
from typing import Annotated

from pydantic import AfterValidator

from connector.events import InboundEvent
from connector.follower import Follower
from connector.ids import is_api_name

SOURCES = {
    "follower": sorted(f.name for f in dataclass_fields(Follower)),
    "event": sorted([f.name for f in dataclass_fields(InboundEvent) if f.name != "fields"]
                    + ["kind", "dedupe_key", "content", "menu_key", "url", "latitude",
                       "longitude", "label", "email", "phone", "channel", "status",
                       "interaction_time", "media_id", "media_format", "thumb_media_id",
                       "picture_url", "recognition"]),
    "campaign": ["id"],
}
# Sources every push or profile carries: a rule reading one (untransformed) is never blank.
ALWAYS_GIVEN = ("follower.openid", "event.openid", "event.account", "event.create_time",
                "event.msg_type", "event.kind", "event.dedupe_key")


def check_source(value: str) -> str:
    """``root.name`` with a known root and name; suggests the closest name on a typo."""
    root, _, name = value.partition(".")
    if root not in SOURCES:
        raise ValueError(
            f"source {value!r} must start with one of: {', '.join(r + '.' for r in SOURCES)}"
        )
    if name not in SOURCES[root]:
        close = difflib.get_close_matches(name, SOURCES[root], n=1)
        hint = f" — did you mean '{root}.{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown source {value!r}{hint} (known: {', '.join(SOURCES[root])})"
        )
    return value


def check_api_name(value: str) -> str:
    if not is_api_name(value):
        raise ValueError(f"{value!r} is not a Salesforce API name (letters, digits, _)")
    return value


ApiName = Annotated[str, AfterValidator(check_api_name)]


# The kinds WeChat pushes (events by Event, messages by MsgType), as ``events:`` keys.
EVENT_KINDS = (
    "subscribe", "unsubscribe", "scan", "click", "view", "location", "view_miniprogram",
    "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select", "templatesendjobfinish", "masssendjobfinish",
    "subscribe_msg_popup_event", "text", "image", "voice", "video", "shortvideo", "link",
)


def check_kind(kind: str) -> str:
    """A kind WeChat pushes; a typo gets the closest one."""
    if kind not in EVENT_KINDS:
        close = difflib.get_close_matches(kind, EVENT_KINDS, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown event kind {kind!r}{hint} (known: {', '.join(EVENT_KINDS)})")
    return kind


EventKind = Annotated[str, AfterValidator(check_kind)]
