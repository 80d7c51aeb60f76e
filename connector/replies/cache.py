"""Campaign replies cached in Redis, and the marks that answer each event once.

Keys (every value is text; the TTL is the mapping's ``replies.cache_ttl``):

- ``bridge:reply:campaign:<15-char Id>``: the campaign's reply (:meth:`Reply.to_json`),
  ``""`` when the campaign has none, ``"!"`` when no such Campaign exists. "None" is
  cached too, so a campaign without a reply is not queried again on every scan.
- ``bridge:reply:scene:<field>:<value, casefolded>``: for ``resolve: {field: ...}``, the
  15-char Id of the Campaign whose field holds the value, or ``"!"`` for none
  (Salesforce compares text case-insensitively); ``bridge:reply:scene-of:<field>:<Id>``
  remembers the value, so a changed value stops pointing at the campaign.
- ``bridge:reply:answered:<dedupe key>``: ``passive`` when the callback answered the
  event with its reply, ``worker`` when the worker took it (sent a customer-service
  message or gave up). The callback answers again on WeChat's resends while it is
  ``passive``; the worker claims it with SET NX, so whichever comes first wins and a
  follower gets one reply, however often the event is delivered or its job retried.

The callback's read is one round trip (:meth:`ReplyCache.passive`, a Lua script that
follows the scene → campaign link, reads the reply and sets the mark).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from connector.ids import short_id
from connector.locks import release_owned
from connector.replies.model import Reply, ReplyTarget

PREFIX = "bridge:reply:"
CAMPAIGN = PREFIX + "campaign:"
SCENE = PREFIX + "scene:"
SCENE_OF = PREFIX + "scene-of:"
ANSWERED = PREFIX + "answered:"
NO_REPLY, NO_CAMPAIGN = "", "!"
PASSIVE, WORKER = "passive", "worker"
# Longer than WeChat's resends (3 within ~15 s) and the 1-minute customer-service window.
ANSWERED_TTL = 600

# KEYS[1] the mark, KEYS[2] the campaign or scene key (absent: welcome only).
# ARGV[1] campaign key prefix, ARGV[2] mark TTL, ARGV[3] welcome JSON or "" (none),
# ARGV[4] "scene" when KEYS[2] is a scene key (its value is the campaign's Id).
# Returns the reply JSON (and marks the event PASSIVE), or false: not cached, no reply,
# or the worker took the event.
_PASSIVE = """
local mark = redis.call('GET', KEYS[1])
if mark and mark ~= 'passive' then return false end
local reply = ARGV[3]
if KEYS[2] then
  local value = redis.call('GET', KEYS[2])
  if value and ARGV[4] == 'scene' and value ~= '!' then
    value = redis.call('GET', ARGV[1] .. value)
  end
  if not value then return false end
  if value ~= '!' then reply = value end
end
if reply == '' then return false end
redis.call('SET', KEYS[1], 'passive', 'EX', ARGV[2])
return reply
"""


def campaign_key(campaign_id: str) -> str:
    return CAMPAIGN + short_id(campaign_id)


def scene_key(field: str, value: str) -> str:
    return f"{SCENE}{field}:{value.casefold()}"


def _text(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class ReplyCache:
    """The reply keys of one Redis connection (cheap to build: the Lua script is
    registered by its digest)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._passive = redis.register_script(_PASSIVE)

    # -- the callback ------------------------------------------------------------------

    def passive(self, dedupe_key: str, target: ReplyTarget,
                welcome_json: str = "") -> Reply | None:
        """The reply to answer ``target``'s event with, in one round trip, marking the
        event answered; None when it is not cached, there is none, or the worker took
        the event. ``welcome_json``: the welcome reply (:meth:`Reply.to_json`, made once
        by the caller), used when ``target.welcome``; "" for none."""
        keys, mode = [ANSWERED + dedupe_key], "campaign"
        if target.campaign is not None:
            keys.append(campaign_key(target.campaign))
        elif target.scene_field is not None:
            keys.append(scene_key(target.scene_field, target.scene_value or ""))
            mode = "scene"
        welcome_json = welcome_json if target.welcome else ""
        found = self._passive(keys=keys, args=[CAMPAIGN, ANSWERED_TTL, welcome_json, mode])
        return Reply.from_json(found) if found else None

    # -- the worker --------------------------------------------------------------------

    def answered(self, dedupe_keys: Iterable[str]) -> dict[str, str | None]:
        """Each event's mark (``passive``, ``worker``) or None."""
        keys = list(dedupe_keys)
        values = self.redis.mget([ANSWERED + k for k in keys]) if keys else []
        return {k: _text(v) for k, v in zip(keys, values, strict=True)}

    def claim(self, dedupe_key: str) -> bool:
        """Take the event for a customer-service message; False when it is answered or
        taken already."""
        return bool(self.redis.set(ANSWERED + dedupe_key, WORKER, nx=True, ex=ANSWERED_TTL))

    def release(self, dedupe_key: str) -> None:
        """Give a claimed event back (its send failed for a reason worth a retry)."""
        release_owned(self.redis, WORKER, [ANSWERED + dedupe_key])

    def campaigns(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Raw cached values by 15-char Id: reply JSON, NO_REPLY, NO_CAMPAIGN, or None
        (not cached)."""
        ids = sorted({short_id(i) for i in ids})
        values = self.redis.mget([campaign_key(i) for i in ids]) if ids else []
        return {i: _text(v) for i, v in zip(ids, values, strict=True)}

    def scenes(self, field: str, values: Iterable[str]) -> dict[str, str | None]:
        """Cached Campaign Ids (or NO_CAMPAIGN) by scene value; None: not cached."""
        values = sorted(set(values))
        got = self.redis.mget([scene_key(field, v) for v in values]) if values else []
        return {v: _text(g) for v, g in zip(values, got, strict=True)}

    # -- filling -----------------------------------------------------------------------

    def store(self, replies: dict[str, Reply | str | None], ttl: int) -> None:
        """Cache replies by Campaign Id: a Reply, None (no reply) or NO_CAMPAIGN."""
        if not replies:
            return
        pipe = self.redis.pipeline(transaction=False)
        for campaign_id, reply in replies.items():
            value = (reply.to_json() if isinstance(reply, Reply)
                     else NO_CAMPAIGN if reply == NO_CAMPAIGN else NO_REPLY)
            pipe.set(campaign_key(campaign_id), value, ex=ttl)
        pipe.execute()

    def store_scenes(self, field: str, links: dict[str, str | None],
                     missing: Iterable[str], ttl: int) -> None:
        """Cache which Campaign each scene value names: ``links`` maps 15-char Ids to
        their field's value now (None: blank), ``missing`` are values no Campaign holds.
        A value a campaign held before and holds no more is forgotten."""
        ids = list(links)
        before = self.redis.mget([f"{SCENE_OF}{field}:{i}" for i in ids]) if ids else []
        pipe = self.redis.pipeline(transaction=False)
        for campaign_id, old in zip(ids, before, strict=True):
            value = links[campaign_id]
            old = _text(old)
            if old is not None and old != (value or "").casefold():
                pipe.delete(scene_key(field, old))
            of = f"{SCENE_OF}{field}:{campaign_id}"
            if value:
                pipe.set(scene_key(field, value), campaign_id, ex=ttl)
                pipe.set(of, value.casefold(), ex=ttl)
            else:
                pipe.delete(of)
        for value in missing:
            pipe.set(scene_key(field, value), NO_CAMPAIGN, ex=ttl)
        pipe.execute()

    def ttl(self, campaign_id: str) -> int:
        """Seconds the campaign's cached reply has left (-2: not cached)."""
        return int(self.redis.ttl(campaign_key(campaign_id)))
