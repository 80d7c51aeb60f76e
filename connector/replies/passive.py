"""The callback's passive replies: the campaign's auto-reply, straight from Redis.

A :data:`Replier` is the callback's seam (``webhooks/wechat_callback.py``): given the
event and wechatpy's typed message, it returns the reply XML, or None to answer
``success``. It runs on the hot path, so it may read a cache but never call an API.
:class:`CampaignReplier` is the app's replier when the mapping has a ``replies:``
section. On a follow or scan it works out where the reply
comes from (:func:`connector.replies.model.reply_target`: the scene's campaign, channel
codes included, or the welcome reply), and makes one Redis round trip that reads the
cached reply and marks the event answered
(:meth:`connector.replies.cache.ReplyCache.passive`); the welcome to a follow naming no
campaign is a constant, given without Redis (and never by the worker). It never calls
an API: a reply not cached is answered ``success``, and the worker sends it as a
customer-service message instead (:mod:`connector.replies.sends`). Redis failing costs the passive
reply only, never the push (the event is already queued).

:class:`KeywordReplier` (``replies: keywords: true``) answers texts with the keyword
rules admins keep in Salesforce (the first rule that matches, else the account's
"message received" default) and a follow naming no campaign with the account's welcome
record (else the mapping's ``welcome:``); other pushes, follows through a campaign's
code included, go to the campaign replier as before. One Redis GET per text
(:class:`connector.replies.keyword_cache.KeywordReader`). Keyword replies are passive
only: a push the callback could not answer (Redis down, nothing cached yet) gets none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from connector.events import InboundEvent
from connector.replies.cache import ReplyCache
from connector.replies.keyword_cache import KeywordReader
from connector.replies.model import Reply, gets_welcome, reply_target, welcome_reply
from connector.wechat.pushes import Message
from connector.wechat.reply_xml import render_article_reply, render_text_reply
from mappings.loader import MappingError, load_mapping
from mappings.models import Mapping

log = logging.getLogger(__name__)

Replier = Callable[[InboundEvent, Message], str | None]


def no_reply(event: InboundEvent, message: Message) -> str | None:
    """The :data:`Replier` of a mapping without replies: ``success`` to every push."""
    return None


def render_reply(reply: Reply, *, openid: str, account: str, at: int) -> str:
    """``reply`` as the XML of a passive reply to ``openid`` from ``account`` (its
    original id), ``CreateTime`` ``at``."""
    if reply.text is not None:
        return render_text_reply(reply.text, openid=openid, account=account, at=at)
    a = reply.article
    return render_article_reply(title=a.title, description=a.description,
                                picture_url=a.picture_url, url=a.url, openid=openid,
                                account=account, at=at)


class CampaignReplier:
    """Answers follows and scans with their cached campaign reply (see the module)."""

    def __init__(self, redis: Redis, mapping: Mapping,
                 clock: Callable[[], float] = time.time) -> None:
        self.mapping, self.clock = mapping, clock
        self.cache = ReplyCache(redis)
        self.welcome = welcome_reply(mapping.replies)
        self.welcome_json = self.welcome.to_json() if self.welcome is not None else ""

    def __call__(self, event: InboundEvent, message: Message) -> str | None:
        target = reply_target(event, self.mapping)
        if target is None:
            return None
        if target.welcome_only:  # a constant: no Redis, no mark (the worker never sends it)
            reply = self.welcome
        else:
            try:
                reply = self.cache.passive(event.dedupe_key, target, self.welcome_json)
            except (RedisError, ValueError) as exc:  # ValueError: a corrupt cached value
                log.warning("no passive reply to %s: %s", event.dedupe_key, exc)
                return None
        if reply is None:
            return None
        return render_reply(reply, openid=event.openid, account=event.account,
                            at=int(self.clock()))


class KeywordReplier:
    """Keyword replies first, then ``then`` (the campaign replier): see the module."""

    def __init__(self, redis: Redis, mapping: Mapping, then: Replier,
                 clock: Callable[[], float] = time.time) -> None:
        self.mapping, self.then, self.clock = mapping, then, clock
        self.reader = KeywordReader(redis)

    def _reply(self, event: InboundEvent) -> Reply | None:
        try:
            book = self.reader.book()
        except (RedisError, ValueError) as exc:  # ValueError: a corrupt cached value
            log.warning("no keyword reply to %s: %s", event.dedupe_key, exc)
            return None
        if book is None:
            return None
        if event.msg_type == "text":
            answer = book.answer(event.account, event.content)
            return answer.reply if answer is not None else None
        welcome = book.welcome(event.account)
        return welcome.reply if welcome is not None else None

    def __call__(self, event: InboundEvent, message: Message) -> str | None:
        if event.msg_type != "text" and not gets_welcome(event, self.mapping):
            return self.then(event, message)
        reply = self._reply(event)
        if reply is None:  # a follow without a welcome record: the mapping's welcome
            return None if event.msg_type == "text" else self.then(event, message)
        return render_reply(reply, openid=event.openid, account=event.account,
                            at=int(self.clock()))


def replier_for(mapping_file: Path | str, redis: Redis) -> Replier:
    """The replier the mapping file asks for: :class:`CampaignReplier` when it has
    replies, behind :class:`KeywordReplier` when it has keyword replies, else
    :func:`no_reply`. A mapping that does not
    load is logged and answered without replies: the callback keeps acknowledging
    pushes, and the worker, which needs the mapping, reports the problem in full."""
    try:
        mapping = load_mapping(mapping_file)
    except MappingError as error:
        log.error("passive replies are off: the mapping %s does not load (%d problem(s); "
                  "`connector mappings validate` lists them)", mapping_file,
                  len(error.problems))
        return no_reply
    if not mapping.replies.enabled:
        return no_reply
    campaign: Replier = CampaignReplier(redis, mapping)
    if mapping.replies.keywords:
        return KeywordReplier(redis, mapping, campaign)
    return campaign
