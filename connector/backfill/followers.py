"""A backfilled follower as the event the mapping plans (pure).

A follower already following never sent the bridge a push; the backfill writes them as
the event they would have sent: by default a follow (``subscribe``) at their
``subscribe_time``, through the QR code named by their ``qr_scene_str`` (so a campaign's
follower joins it as a live follower would), or a ``scan`` of that code. The event's
dedupe key is then the one WeChat's own push had (account, OpenID, CreateTime, Event,
EventKey), so the campaign touch a live follow counted is not counted twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from connector.events import SUBSCRIBE_SCENE_PREFIX, InboundEvent
from connector.follower import Follower

KINDS = ("subscribe", "scan")


@dataclass(frozen=True)
class Treatment:
    """How a backfilled follower counts: ``kind`` the event (``subscribe`` or ``scan``),
    ``join_campaigns`` whether their ``qr_scene_str`` makes them a campaign member."""

    kind: str = "subscribe"
    join_campaigns: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a backfilled follower counts as one of {', '.join(KINDS)}, "
                             f"not {self.kind!r}")


def event_for(account: str, follower: Follower, treatment: Treatment,
              now: float | None = None) -> InboundEvent:
    """The push ``follower`` would have sent on following ``account``: CreateTime is their
    ``subscribe_time`` (now when WeChat gave none); EventKey is their QR scene when
    ``treatment.join_campaigns`` and they came through a string scene."""
    at = follower.subscribe_time or int(now if now is not None else time.time())
    fields = {"ToUserName": account, "FromUserName": follower.openid,
              "CreateTime": str(at), "MsgType": "event", "Event": treatment.kind}
    scene = follower.qr_scene_str if treatment.join_campaigns else None
    if scene:
        prefix = SUBSCRIBE_SCENE_PREFIX if treatment.kind == "subscribe" else ""
        fields["EventKey"] = prefix + scene
    return InboundEvent.from_fields(fields)
