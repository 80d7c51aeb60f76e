"""The inbound event: one WeChat push, normalised, with its idempotency key.

The callback builds an :class:`InboundEvent` from the decrypted XML fields, and the key is
made once, here at the edge (MsgId for messages; account + FromUserName + CreateTime +
Event + EventKey for events), so WeChat's resends of one push share one key everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from connector.scenes import SEPARATOR as CHANNEL_SEPARATOR
from connector.scenes import split_version

SUBSCRIBE_SCENE_PREFIX = "qrscene_"

# What a follower does, as opposed to what happens to them (an unfollow) or what WeChat
# reports (job-finish events, the periodic location report): the kinds that count as an
# interaction, and so set a follower's last-interaction time.
ACTS = frozenset({
    "subscribe", "scan", "click", "view", "view_miniprogram", "scancode_push",
    "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select", "subscribe_msg_popup_event", "text", "image", "voice", "video",
    "shortvideo", "link", "location",
})


@dataclass(frozen=True)
class InboundEvent:
    """One push from WeChat.

    Attributes:
        account: ToUserName, the Official Account's original id (``gh_...``).
        openid: FromUserName, the follower's OpenID for this account.
        create_time: CreateTime, unix seconds as WeChat sent it.
        msg_type: MsgType, lower case (``event``, ``text``, ``image``...).
        event: Event, lower case (``subscribe``, ``scan``, ``click``...); None for messages.
        event_key: EventKey exactly as sent; None when absent.
        scene: the QR scene string: ``qrscene_`` stripped for subscribe, EventKey for scan.
        msg_id: MsgId (messages, job-finish events), as text; None when absent.
        fields: every top-level XML field as text, for the mapping and for replay.
    """

    account: str
    openid: str
    create_time: int
    msg_type: str
    event: str | None = None
    event_key: str | None = None
    scene: str | None = None
    msg_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> InboundEvent:
        """Build the event from parsed XML fields.

        Raises:
            ValueError: when a field every push carries is missing or malformed.
        """
        for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
            if not isinstance(fields.get(name), str) or not fields[name].strip():
                raise ValueError(f"push has no {name}")
        try:
            create_time = int(fields["CreateTime"])
        except ValueError:
            raise ValueError("CreateTime is not a whole number") from None
        msg_type = fields["MsgType"].strip().lower()
        event = fields.get("Event")
        event = event.strip().lower() if isinstance(event, str) and event.strip() else None
        key = fields.get("EventKey")
        key = key if isinstance(key, str) else None
        scene = None
        if event == "subscribe" and key and key.startswith(SUBSCRIBE_SCENE_PREFIX):
            scene = key[len(SUBSCRIBE_SCENE_PREFIX) :]
        elif event == "scan" and key:
            scene = key
        msg_id = fields.get("MsgId") or fields.get("MsgID")
        return cls(
            account=fields["ToUserName"].strip(),
            openid=fields["FromUserName"].strip(),
            create_time=create_time,
            msg_type=msg_type,
            event=event,
            event_key=key,
            scene=scene,
            msg_id=str(msg_id).strip() if isinstance(msg_id, str) and msg_id.strip() else None,
            fields={k: v for k, v in fields.items() if isinstance(v, str | dict | list)},
        )

    def _field(self, *names: str) -> str | None:
        for name in names:
            value = self.fields.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    @property
    def content(self) -> str | None:
        """A text message's Content."""
        return self._field("Content")

    @property
    def menu_key(self) -> str | None:
        """The key of the menu item a CLICK event reports."""
        return self.event_key if self.event == "click" else None

    @property
    def url(self) -> str | None:
        """The link of a VIEW event (its EventKey) or of a link message (Url)."""
        return self.event_key if self.event == "view" else self._field("Url")

    @property
    def latitude(self) -> str | None:
        """From a LOCATION event (Latitude) or a location message (Location_X)."""
        return self._field("Latitude", "Location_X")

    @property
    def longitude(self) -> str | None:
        return self._field("Longitude", "Location_Y")

    @property
    def label(self) -> str | None:
        """A location message's place name."""
        return self._field("Label")

    @property
    def status(self) -> str | None:
        """A job-finish event's Status (``success``, ``failed: system failed``,
        ``err(30003)``...)."""
        return self._field("Status")

    @property
    def media_id(self) -> str | None:
        """An image, voice or video message's MediaId: the file, which WeChat's
        ``media/get`` serves for 3 days."""
        return self._field("MediaId")

    @property
    def media_format(self) -> str | None:
        """A voice message's Format (``amr``, ``speex``...)."""
        return self._field("Format")

    @property
    def thumb_media_id(self) -> str | None:
        """A video message's ThumbMediaId (its thumbnail)."""
        return self._field("ThumbMediaId")

    @property
    def picture_url(self) -> str | None:
        """An image message's PicUrl (WeChat's link to the picture)."""
        return self._field("PicUrl")

    @property
    def recognition(self) -> str | None:
        """A voice message's Recognition: its text, when the account has speech
        recognition on."""
        return self._field("Recognition")

    @property
    def email(self) -> str | None:
        """An ``Email`` field some form integrations add to the push (not WeChat's own)."""
        return self._field("Email")

    @property
    def phone(self) -> str | None:
        """A ``Phone`` field some form integrations add to the push (not WeChat's own)."""
        return self._field("Phone")

    @property
    def channel(self) -> str | None:
        """The channel of a channel QR code (``sfc_<Id>.store-042`` → ``store-042``)."""
        if not self.scene or CHANNEL_SEPARATOR not in self.scene:
            return None
        return split_version(self.scene.partition(CHANNEL_SEPARATOR)[2])[0]

    @property
    def rule_name(self) -> str:
        """The mapping's ``events:`` key: ``subscribe``, ``scan``, ``text``..."""
        return self.event if self.msg_type == "event" and self.event else self.msg_type

    @property
    def interaction_time(self) -> int | None:
        """CreateTime when the follower did something (see :data:`ACTS`); None for an
        unfollow, a job-finish report or the automatic location report."""
        name = self.rule_name
        if self.msg_type == "event" and name == "location":
            return None  # the periodic report WeChat sends, not something the user did
        return self.create_time if name in ACTS else None

    @property
    def kind(self) -> str:
        """``event:<name>`` for events, ``message:<type>`` for messages."""
        return f"event:{self.event}" if self.msg_type == "event" else f"message:{self.msg_type}"

    @property
    def dedupe_key(self) -> str:
        """The idempotency key, safe to use as an RQ job id.

        Messages carry a MsgId, unique per account; events have none, so their key is the
        hash of FromUserName + CreateTime + Event + EventKey (what WeChat's FAQ prescribes)
        — and MsgID and Status for the job-finish events that carry one: a template
        report's MsgID is not unique (0 has been seen with client_msg_id), and two
        reports for one follower may share a second.
        """
        if self.msg_type != "event" and self.msg_id:
            return f"wx-msg-{self.account}-{self.msg_id}"
        parts = [self.account, self.openid, str(self.create_time)]
        parts += [self.event or "", self.event_key or ""]
        if self.msg_id:  # job-finish reports: two jobs may finish for one follower at once
            parts += [self.msg_id, self.status or ""]
        basis = "\x1f".join(parts)
        return "wx-evt-" + hashlib.sha256(basis.encode()).hexdigest()[:40]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_dict` is its inverse.

        Built by hand: ``dataclasses.asdict`` deep-copies ``fields`` and costs more than
        the rest of a push's handling on the callback's hot path.
        """
        return {
            "account": self.account, "openid": self.openid, "create_time": self.create_time,
            "msg_type": self.msg_type, "event": self.event, "event_key": self.event_key,
            "scene": self.scene, "msg_id": self.msg_id, "fields": dict(self.fields),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundEvent:
        return cls(**data)
