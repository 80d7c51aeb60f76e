"""WeChat's customer-service messaging windows, per follower, kept in Redis.

An account may send a follower customer-service messages only shortly after the follower
acted, and only a few:

- after a **message** from the follower (text, image, voice, video, location, link): up
  to 5 within 48 hours;
- after a **follow, a scan or a menu click**: up to 3 within 1 minute.

Each new act of a kind opens that kind's window afresh. The inbound worker records every
act (:func:`record`, at the push's CreateTime, so a late or replayed push never reopens
a window it did not open); a sender calls :func:`spend` before each message, which takes
one message from whichever window is open (the 1-minute one first, as it closes sooner),
atomically, so concurrent senders never exceed the allowance. The keys expire with the
longest window.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location",
                           "link"})
EVENT_KINDS = frozenset({"subscribe", "scan", "click"})
MESSAGE_WINDOW, MESSAGE_ALLOWANCE = 48 * 3600, 5
EVENT_WINDOW, EVENT_ALLOWANCE = 60, 3

# KEYS[1] the follower's hash; ARGV: at-field, left-field, at, allowance, ttl.
_RECORD = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local at = tonumber(ARGV[3])
if at > current then
  redis.call('HSET', KEYS[1], ARGV[1], at, ARGV[2], ARGV[4])
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last_at') or '0')
if at > last then redis.call('HSET', KEYS[1], 'last_at', at) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return current
"""

# KEYS[1] the follower's hash; ARGV: now, event window, message window.
_SPEND = """
local h = redis.call('HMGET', KEYS[1], 'evt_at', 'evt_left', 'msg_at', 'msg_left')
local now = tonumber(ARGV[1])
local evt_at, evt_left = tonumber(h[1] or '0'), tonumber(h[2] or '0')
local msg_at, msg_left = tonumber(h[3] or '0'), tonumber(h[4] or '0')
if evt_at > 0 and now - evt_at <= tonumber(ARGV[2]) and evt_left > 0 then
  redis.call('HINCRBY', KEYS[1], 'evt_left', -1)
  return {'event', evt_left - 1}
end
if msg_at > 0 and now - msg_at <= tonumber(ARGV[3]) and msg_left > 0 then
  redis.call('HINCRBY', KEYS[1], 'msg_left', -1)
  return {'message', msg_left - 1}
end
if (evt_at > 0 and now - evt_at <= tonumber(ARGV[2])) or
   (msg_at > 0 and now - msg_at <= tonumber(ARGV[3])) then
  return {'used', 0}
end
return {'closed', 0}
"""


@dataclass(frozen=True)
class Spent:
    """The outcome of :func:`spend`: ``window`` is ``event`` or ``message`` when a
    message may be sent (``left`` more after it), else None with ``reason``."""

    window: str | None
    left: int = 0
    reason: str | None = None

    @property
    def granted(self) -> bool:
        return self.window is not None


def _key(account: str, openid: str) -> str:
    return f"bridge:window:{account}:{openid}"


def opens(kind: str) -> str | None:
    """Which window an act of ``kind`` (an ``events:`` key) opens, if any."""
    if kind in MESSAGE_KINDS:
        return "message"
    if kind in EVENT_KINDS:
        return "event"
    return None


def record(redis: Redis, account: str, openid: str, kind: str, at: int) -> bool:
    """Note an act of ``kind`` at ``at`` (unix seconds); True when it opened a window
    (acts that open none, such as unfollows, change nothing)."""
    return bool(record_many(redis, [(account, openid, kind, at)]))


def record_many(redis: Redis, acts: list[tuple[str, str, str, int]]) -> int:
    """:func:`record` for many (account, openid, kind, at) acts in one round trip; how
    many opened a window."""
    pipe = redis.pipeline(transaction=False)
    ats = []
    for account, openid, kind, at in acts:
        window = opens(kind)
        if window is None:
            continue
        at_field, left_field, allowance = ("msg_at", "msg_left", MESSAGE_ALLOWANCE) \
            if window == "message" else ("evt_at", "evt_left", EVENT_ALLOWANCE)
        pipe.eval(_RECORD, 1, _key(account, openid), at_field, left_field, int(at),
                  allowance, MESSAGE_WINDOW + 3600)
        ats.append(int(at))
    previous = pipe.execute() if ats else []
    return sum(1 for at, before in zip(ats, previous, strict=True) if at > int(before))


def spend(redis: Redis, account: str, openid: str, now: float) -> Spent:
    """Take one customer-service message from the follower's open window, if any."""
    window, left = redis.eval(_SPEND, 1, _key(account, openid), int(now), EVENT_WINDOW,
                              MESSAGE_WINDOW)
    window = window.decode() if isinstance(window, bytes) else window
    if window in ("event", "message"):
        return Spent(window, int(left))
    if window == "used":
        return Spent(None, reason="the follower's open window has no messages left "
                     f"({EVENT_ALLOWANCE} within 1 minute of a follow, scan or menu click; "
                     f"{MESSAGE_ALLOWANCE} within 48 hours of a message)")
    return Spent(None, reason="no open window: the follower has not written within 48 hours "
                 "nor followed, scanned or clicked a menu within the last minute")


def last_interaction(redis: Redis, account: str, openid: str) -> int | None:
    """Unix seconds of the follower's latest recorded act, or None."""
    value = redis.hget(_key(account, openid), "last_at")
    return int(value) if value else None
