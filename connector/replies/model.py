"""Auto-replies as data: what a campaign answers, and which reply an event gets. Pure.

A :class:`Reply` is a text or one article. :func:`reply_from_record` reads it from a
Campaign record's fields as the mapping's ``replies:`` section names them (an article
when its title is filled, else the text, else none); :func:`reply_target` says where an
event's reply comes from (its campaign, the Campaign a scene value names, or the
``welcome:`` reply), or that it gets none. Rendering as WeChat XML is in
``connector/replies/passive.py``; caching in ``connector/replies/cache.py``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from connector.events import InboundEvent
from connector.ids import is_campaign_id, short_id
from connector.scenes import Scene, parse_scene
from mappings.models import Mapping
from mappings.reply_section import TEXT_LIMIT_BYTES, RepliesSection

ELLIPSIS = "…"
ZWJ = "\u200d"
# Characters XML 1.0 cannot carry (WeChat's parser refuses the whole reply over one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
REPLIED_KINDS = ("subscribe", "scan")


@dataclass(frozen=True)
class Article:
    """One article of a news reply; ``title`` is never blank."""

    title: str
    description: str = ""
    picture_url: str = ""
    url: str = ""


@dataclass(frozen=True)
class Reply:
    """A text reply or an article reply (exactly one of ``text`` and ``article``)."""

    text: str | None = None
    article: Article | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.article is None):
            raise ValueError("a Reply is a text or an article")

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "article"

    def to_json(self) -> str:
        data: dict[str, Any] = ({"text": self.text} if self.text is not None
                                else {"article": asdict(self.article)})
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Reply:
        """Raises: ValueError: not a reply's JSON (:meth:`to_json`)."""
        try:
            data = json.loads(text)
            if "text" in data:
                return cls(text=str(data["text"]))
            return cls(article=Article(**data["article"]))
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a cached reply: {exc}") from None

    def custom_message(self) -> dict[str, Any]:
        """The body of a customer-service message (without ``touser``)."""
        if self.text is not None:
            return {"msgtype": "text", "text": {"content": self.text}}
        a = self.article
        return {"msgtype": "news", "news": {"articles": [
            {"title": a.title, "description": a.description, "url": a.url,
             "picurl": a.picture_url}]}}


def clean(value: Any) -> str:
    """A field value as reply text: characters XML cannot carry removed, ends trimmed."""
    if value is None:
        return ""
    return _NOT_XML.sub("", str(value)).strip()


def _extends(char: str) -> bool:
    """True for a character that belongs to the one before it (a combining mark, a
    variation selector, a skin tone, a tag, a zero-width joiner)."""
    code = ord(char)
    return (char == ZWJ or unicodedata.category(char) in ("Mn", "Me")
            or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F)


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF  # half of a flag


def cut_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> str:
    """``text`` within ``limit`` UTF-8 bytes: unchanged when it fits, else cut with a
    trailing "…", never inside a character, an accented letter, an emoji sequence
    or a flag."""
    if len(text.encode("utf-8")) <= limit:
        return text
    budget = limit - len(ELLIPSIS.encode("utf-8"))
    n = len(text.encode("utf-8")[:budget].decode("utf-8", "ignore"))  # whole characters
    # Back off while the first character left out belongs to the last one kept, or the
    # last one kept joins on to it (ZWJ sequences such as family emoji).
    while n > 0 and (_extends(text[n]) or text[n - 1] == ZWJ):
        n -= 1
    if n > 0 and _regional(text[n]):  # don't keep half of a flag
        run = 0
        while run < n and _regional(text[n - 1 - run]):
            run += 1
        n -= run % 2
    return text[:n].rstrip() + ELLIPSIS


def reply_from_record(record: dict[str, Any], section: RepliesSection) -> Reply | None:
    """The reply a Campaign record gives under ``section``, or None when its fields are
    blank (or the section reads no Campaign field)."""
    article = section.article
    if article is not None:
        title = clean(record.get(article.title))
        if title:
            def value(name: str | None) -> str:
                return clean(record.get(name)) if name else ""
            return Reply(article=Article(title, value(article.description),
                                         value(article.picture_url), value(article.url)))
    if section.text is not None:
        text = clean(record.get(section.text))
        if text:
            return Reply(text=cut_text(text))
    return None


def welcome_reply(section: RepliesSection) -> Reply | None:
    """The ``welcome:`` reply, or None."""
    welcome = section.welcome
    if welcome is None:
        return None
    if welcome.text is not None:
        return Reply(text=clean(welcome.text))
    a = welcome.article
    return Reply(article=Article(clean(a.title), clean(a.description),
                                 a.picture_url or "", a.url or ""))


@dataclass(frozen=True)
class ReplyTarget:
    """Where an event's reply comes from: ``campaign`` (a 15-character Campaign Id), or
    ``scene_field``/``scene_value`` (the Campaign whose field holds the value), and/or
    ``welcome`` (the welcome reply: the only source, or the fallback when the scene
    names no existing Campaign)."""

    campaign: str | None = None
    scene_field: str | None = None
    scene_value: str | None = None
    welcome: bool = False

    @property
    def welcome_only(self) -> bool:
        """True when the reply is the welcome, whatever is cached: a constant the
        callback always gives (the worker never has to)."""
        return self.welcome and self.campaign is None and self.scene_field is None


def _campaign_scene(event: InboundEvent, mapping: Mapping) -> Scene | None:
    """The campaign scene ``event`` carries, or None when it names no campaign."""
    campaigns = mapping.for_account(event.account).campaigns
    scene = parse_scene(event.scene, [campaigns.scene_prefix])
    if scene is not None and campaigns.resolve == "id" and not is_campaign_id(scene.key):
        return None  # the prefix, but no Campaign Id after it: names no campaign
    return scene


def gets_welcome(event: InboundEvent, mapping: Mapping) -> bool:
    """True for a follow whose reply is the welcome: it names no campaign (or campaigns
    have no replies), as :func:`reply_target` decides. A follow through a campaign's code
    gets the campaign's reply instead."""
    if event.msg_type != "event" or event.event != "subscribe":
        return False
    return (_campaign_scene(event, mapping) is None
            or not mapping.replies.campaign_replies)


def reply_target(event: InboundEvent, mapping: Mapping) -> ReplyTarget | None:
    """Where ``event``'s auto-reply comes from, or None when it gets none.

    Follows (``subscribe``) and scans (``scan``) are answered: with their campaign's reply
    when the scene names a campaign (``sfc_<Id>`` and channel codes ``sfc_<Id>.<channel>``
    under the mapping's ``campaigns.scene_prefix``, or the scene value of ``resolve:
    {field: ...}``) and the kind is in ``replies.on``; a follow naming no campaign (or
    any follow, when the section reads no Campaign field) gets the ``welcome:`` reply.
    """
    section = mapping.replies
    kind = event.event if event.msg_type == "event" else None
    if not section.enabled or kind not in REPLIED_KINDS:
        return None
    campaigns = mapping.for_account(event.account).campaigns
    welcome = kind == "subscribe" and section.welcome is not None
    scene = _campaign_scene(event, mapping)
    if scene is None or not section.campaign_replies:
        return ReplyTarget(welcome=True) if welcome else None
    if kind not in section.on:
        return None
    if campaigns.resolve == "id":
        return ReplyTarget(campaign=short_id(scene.key), welcome=welcome)
    return ReplyTarget(scene_field=campaigns.resolve.field, scene_value=scene.key,
                       welcome=welcome)
