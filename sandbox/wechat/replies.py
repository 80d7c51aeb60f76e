"""Judging the callback's answer the way WeChat's servers do.

WeChat accepts ``''`` or ``success`` (nothing to show the follower) or a passive reply
XML addressed back to the follower. In safe mode the reply must be encrypted
(``<Encrypt>``, ``<MsgSignature>``, ``<TimeStamp>``, ``<Nonce>``); in plain mode it must
not be; compatible mode takes either. Anything else makes WeChat show the follower "this
account cannot provide service right now" — it is an answer, so there is no resend.

A text reply's ``Content`` over 2048 bytes (UTF-8) is not shown (WeChat shows nothing);
a news reply carries 1 to 8 articles, ``ArticleCount`` of them, each with a title.
:func:`parse_reply` turns an accepted reply into a :class:`PassiveReply` for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from sandbox.wechat import crypto

REPLY_TYPES = frozenset({"text", "image", "voice", "video", "music", "news",
                         "transfer_customer_service"})
TEXT_LIMIT = 2048  # bytes of Content WeChat shows
MAX_ARTICLES = 8


@dataclass(frozen=True)
class PassiveReply:
    """A passive reply as the follower would see it: ``msg_type``, and ``content`` (a
    text) or ``articles`` (news: dicts with title, description, picurl, url)."""

    msg_type: str
    to_user: str
    from_user: str
    create_time: int
    content: str | None = None
    articles: tuple[dict[str, str], ...] = ()


class ReplyError(ValueError):
    """An answer WeChat would not accept as a reply; the message says why."""


def _parse(text: str) -> Element:
    try:
        return ElementTree.fromstring(text)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise ReplyError(f"not XML: {exc}") from exc


def _field(root: Element, name: str) -> str:
    node = root.find(name)
    if node is None or node.text is None:
        raise ReplyError(f"no <{name}>")
    return node.text


class ReplyReader:
    """Opens and checks passive replies for one account and mode."""

    def __init__(self, *, token: str, app_id: str, original_id: str, mode: str,
                 key: bytes | None) -> None:
        self.token, self.app_id, self.original_id = token, app_id, original_id
        self.mode, self.key = mode, key

    def read(self, text: str, *, openid: str) -> str:
        """The reply's plaintext XML (decrypted if it came encrypted).

        Raises:
            ReplyError: malformed, wrongly signed or encrypted, or mis-addressed.
        """
        root = _parse(text)
        if root.find("Encrypt") is not None:
            if self.mode == "plain" or self.key is None:
                raise ReplyError("encrypted reply to a plain-mode push")
            plain = self.decrypt(root)
        elif self.mode == "safe":
            raise ReplyError("plaintext reply to a safe-mode push")
        else:
            plain = text
        self.check(plain, openid=openid)
        return plain

    def decrypt(self, root: Element) -> str:
        encrypted = _field(root, "Encrypt")
        timestamp, nonce = _field(root, "TimeStamp"), _field(root, "Nonce")
        if not crypto.signature_matches(_field(root, "MsgSignature"), self.token, timestamp,
                                        nonce, encrypted):
            raise ReplyError("MsgSignature does not match")
        try:
            _, message, app_id = crypto.decrypt(self.key, encrypted)
        except crypto.CryptoError as exc:
            raise ReplyError(f"cannot decrypt: {exc}") from exc
        if app_id != self.app_id:
            raise ReplyError(f"encrypted for app id {app_id!r}, not {self.app_id!r}")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReplyError("decrypted reply is not UTF-8") from exc

    def check(self, plain: str, *, openid: str) -> None:
        root = _parse(plain)
        if _field(root, "ToUserName") != openid:
            raise ReplyError("reply is not addressed to the follower who pushed")
        if _field(root, "FromUserName") != self.original_id:
            raise ReplyError("reply FromUserName is not the account's original id")
        if not _field(root, "CreateTime").strip().isdigit():
            raise ReplyError("CreateTime is not a number")
        msg_type = _field(root, "MsgType")
        if msg_type not in REPLY_TYPES:
            raise ReplyError("unknown reply MsgType")
        if msg_type == "text":
            size = len(_field(root, "Content").encode("utf-8"))
            if size > TEXT_LIMIT:
                raise ReplyError(f"text reply of {size} bytes: WeChat shows at most "
                                 f"{TEXT_LIMIT}")
        elif msg_type == "news":
            _articles(root)


def _text_of(node: Element | None) -> str:
    return (node.text or "") if node is not None else ""


def _articles(root: Element) -> tuple[dict[str, str], ...]:
    items = root.findall("Articles/item")
    count = _field(root, "ArticleCount").strip()
    if not count.isdigit() or int(count) != len(items):
        raise ReplyError(f"ArticleCount {count!r} but {len(items)} articles")
    if not 1 <= len(items) <= MAX_ARTICLES:
        raise ReplyError(f"{len(items)} articles: a news reply carries 1 to {MAX_ARTICLES}")
    articles = tuple({"title": _text_of(item.find("Title")),
                      "description": _text_of(item.find("Description")),
                      "picurl": _text_of(item.find("PicUrl")),
                      "url": _text_of(item.find("Url"))} for item in items)
    if any(not a["title"] for a in articles):
        raise ReplyError("an article without a Title")
    return articles


def parse_reply(plain: str) -> PassiveReply:
    """The reply in ``plain`` (plaintext reply XML, as :meth:`ReplyReader.read` gives).

    Raises:
        ReplyError: not a reply.
    """
    root = _parse(plain)
    msg_type = _field(root, "MsgType")
    return PassiveReply(
        msg_type=msg_type, to_user=_field(root, "ToUserName"),
        from_user=_field(root, "FromUserName"),
        create_time=int(_field(root, "CreateTime").strip()),
        content=_text_of(root.find("Content")) if msg_type == "text" else None,
        articles=_articles(root) if msg_type == "news" else ())
