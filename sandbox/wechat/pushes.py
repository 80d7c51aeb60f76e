"""The XML of the pushes WeChat's servers send to an Official Account's callback URL.

A :class:`Push` is what a follower did (their openid, when, and the event's fields). It
has no addressee: the account's original id (``gh_…``, the ``ToUserName``) is added when
the push is rendered, by :meth:`Push.xml` or by the :class:`~sandbox.wechat.sender.
CallbackSender` that delivers it. Field order and CDATA use follow WeChat's documented
samples: strings in CDATA, numbers bare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# Fields WeChat sends as bare numbers; everything else is wrapped in CDATA.
_NUMERIC = frozenset({"CreateTime", "MsgId", "Latitude", "Longitude", "Precision", "MenuId"})


@dataclass(frozen=True)
class Push:
    """One push: the sender openid, ``CreateTime`` and the fields after ``MsgType``.

    ``fields`` keeps WeChat's order (``MsgType`` first). ``dedupe_key`` is what a receiver
    should deduplicate on: ``MsgId`` for messages, ``FromUserName + CreateTime + Event +
    EventKey`` for events (WeChat's own advice).
    """

    openid: str
    create_time: int
    fields: tuple[tuple[str, str | int], ...] = field(default=())

    def get(self, name: str, default: str | int | None = None) -> str | int | None:
        return dict(self.fields).get(name, default)

    @property
    def msg_type(self) -> str:
        return str(self.get("MsgType"))

    @property
    def event(self) -> str | None:
        value = self.get("Event")
        return None if value is None else str(value)

    @property
    def dedupe_key(self) -> str:
        if self.get("MsgId") is not None:
            return str(self.get("MsgId"))
        return f"{self.openid}{self.create_time}{self.event or ''}{self.get('EventKey') or ''}"

    def items(self, to_user: str) -> list[tuple[str, str | int]]:
        """All elements in wire order, ``ToUserName`` first."""
        head = [("ToUserName", to_user), ("FromUserName", self.openid),
                ("CreateTime", self.create_time)]
        return head + list(self.fields)

    def xml(self, to_user: str) -> str:
        """The plaintext XML WeChat would send to the account ``to_user`` (its ``gh_`` id)."""
        return render(self.items(to_user))


def render(items: list[tuple[str, str | int]]) -> str:
    """``<xml>`` with one element per item, CDATA for strings, as WeChat writes it."""
    parts = ["<xml>"]
    for name, value in items:
        if name in _NUMERIC or isinstance(value, int):
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
        else:
            # CDATA cannot contain "]]>"; split it the standard way if a value does.
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts)


def _event(openid: str, at: int, event: str, *extra: tuple[str, str | int]) -> Push:
    return Push(openid, at, (("MsgType", "event"), ("Event", event), *extra))


def subscribe(openid: str, at: int, *, scene: str | int | None = None,
              ticket: str | None = None) -> Push:
    """A follow; from a QR code (``EventKey`` ``qrscene_<scene>`` + ``Ticket``) if given."""
    if scene is None:
        return _event(openid, at, "subscribe", ("EventKey", ""))
    return _event(openid, at, "subscribe", ("EventKey", f"qrscene_{scene}"),
                  ("Ticket", ticket or ""))


def scan(openid: str, at: int, *, scene: str | int, ticket: str) -> Push:
    """An existing follower scanned a parametric QR code (``EventKey`` is the bare scene)."""
    return _event(openid, at, "SCAN", ("EventKey", str(scene)), ("Ticket", ticket))


def unsubscribe(openid: str, at: int) -> Push:
    return _event(openid, at, "unsubscribe", ("EventKey", ""))


def click(openid: str, at: int, *, key: str) -> Push:
    """A click on a menu button of type ``click``."""
    return _event(openid, at, "CLICK", ("EventKey", key))


def view(openid: str, at: int, *, url: str, menu_id: int | None = None) -> Push:
    """A click on a menu link (``EventKey`` is the URL)."""
    extra = () if menu_id is None else (("MenuId", menu_id),)
    return _event(openid, at, "VIEW", ("EventKey", url), *extra)


def location(openid: str, at: int, *, latitude: float, longitude: float,
             precision: float) -> Push:
    """The periodic location report (when the account asks for it)."""
    return _event(openid, at, "LOCATION", ("Latitude", f"{latitude:.6f}"),
                  ("Longitude", f"{longitude:.6f}"), ("Precision", f"{precision:.6f}"))


def text(openid: str, at: int, *, content: str, msg_id: int) -> Push:
    """A text message from the follower."""
    return Push(openid, at, (("MsgType", "text"), ("Content", content), ("MsgId", msg_id)))


# The follower's media messages, as WeChat's "receiving standard messages" page shows them
# (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/
# Receiving_standard_messages.html): image (PicUrl, MediaId), voice (MediaId, Format, and
# Recognition when the account turned speech recognition on), video and shortvideo
# (MediaId, ThumbMediaId); each with its MsgId.

def image(openid: str, at: int, *, pic_url: str, media_id: str, msg_id: int) -> Push:
    """A picture from the follower."""
    return Push(openid, at, (("MsgType", "image"), ("PicUrl", pic_url),
                             ("MediaId", media_id), ("MsgId", msg_id)))


def voice(openid: str, at: int, *, media_id: str, format: str, msg_id: int,  # noqa: A002
          recognition: str | None = None) -> Push:
    """A voice message from the follower."""
    items: tuple[tuple[str, str | int], ...] = (
        ("MsgType", "voice"), ("MediaId", media_id), ("Format", format))
    if recognition is not None:
        items += (("Recognition", recognition),)
    return Push(openid, at, (*items, ("MsgId", msg_id)))


def video(openid: str, at: int, *, media_id: str, thumb_media_id: str, msg_id: int,
          short: bool = False) -> Push:
    """A video (``short``: a short video) from the follower."""
    return Push(openid, at, (("MsgType", "shortvideo" if short else "video"),
                             ("MediaId", media_id), ("ThumbMediaId", thumb_media_id),
                             ("MsgId", msg_id)))
