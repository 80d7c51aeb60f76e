"""Campaign touches and counts, kept in Redis by the inbound worker.

Every scan or follow through a campaign's code is a *touch* of that campaign by a
follower. Per (campaign, follower) the worker keeps the first and latest touch, their
channels and the number of scans, and per campaign and channel the scans, the unique
scanners and the new followers — what CampaignMember fields and ``connector campaigns
stats`` show.

Each touch is counted once however often it is processed: a marker per event (its dedupe
key) is set with the counts in one atomic step, so WeChat's resends, rq retries and
replays never count twice. Followers appear here by OpenID only (no personal data), so
the counts survive the erasure of an unfollower's profile.

A campaign is keyed by what its scene names: the 15-character Campaign Id (scenes
``sfc_<Id>``), or the Campaign field's value (``campaigns.resolve: {field: ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

MAIN = ""  # the channel of a campaign's own code (not a channel code)
MARKER_TTL = 30 * 24 * 3600  # longer than any retry or replay of an event

# KEYS: marker, touch hash, stats hash, channel scanners, all scanners, channel followers,
# all followers, channels set. ARGV: at, channel, followed (0/1), openid, marker ttl.
_TOUCH = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[5]) then
  local at = tonumber(ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'scans', 1)
  local first = tonumber(redis.call('HGET', KEYS[2], 'first') or '0')
  if first == 0 or at < first then
    redis.call('HSET', KEYS[2], 'first', at, 'first_channel', ARGV[2])
  end
  local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
  if at >= last then
    redis.call('HSET', KEYS[2], 'last', at, 'last_channel', ARGV[2])
  end
  redis.call('HINCRBY', KEYS[3], 'scans:' .. ARGV[2], 1)
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[4])
  if ARGV[3] == '1' then
    redis.call('SADD', KEYS[6], ARGV[4])
    redis.call('SADD', KEYS[7], ARGV[4])
  end
  redis.call('SADD', KEYS[8], ARGV[2])
end
return redis.call('HMGET', KEYS[2], 'first', 'last', 'scans', 'first_channel', 'last_channel')
"""


@dataclass(frozen=True)
class TouchEvent:
    """One scan or follow of a campaign's code: ``key`` is the event's dedupe key,
    ``followed`` whether it was a follow (a new follower)."""

    key: str
    campaign: str
    openid: str
    at: int
    channel: str | None = None
    followed: bool = False


@dataclass(frozen=True)
class Touch:
    """A follower's touches of one campaign, all events so far included."""

    first: int
    last: int
    scans: int
    first_channel: str | None
    last_channel: str | None

    def value(self, attribute: str) -> object:
        """``first_touch``, ``last_touch`` (unix seconds), ``scans``, ``first_channel``
        or ``last_channel`` (None for the campaign's own code)."""
        return {"first_touch": self.first, "last_touch": self.last, "scans": self.scans,
                "first_channel": self.first_channel, "last_channel": self.last_channel
                }[attribute]


def _stats(campaign: str) -> str:
    return f"bridge:campaign:{campaign}"


def record(redis: Redis, touches: list[TouchEvent]) -> dict[tuple[str, str], Touch]:
    """Count ``touches`` (each once, ever) and return, per (campaign, openid) touched,
    the touch so far. One round trip."""
    pipe = redis.pipeline(transaction=False)
    for t in touches:
        channel, stats = t.channel or MAIN, _stats(t.campaign)
        pipe.eval(_TOUCH, 8, f"bridge:touched:{t.key}", f"{stats}:touch:{t.openid}", stats,
                  f"{stats}:scanners:{channel}", f"{stats}:scanners", f"{stats}:followers:"
                  f"{channel}", f"{stats}:followers", f"{stats}:channels", t.at, channel,
                  int(t.followed), t.openid, MARKER_TTL)
    rows = pipe.execute() if touches else []
    return {(t.campaign, t.openid): _touch(row)
            for t, row in zip(touches, rows, strict=True)}


def _touch(row: list) -> Touch | None:
    """A touch hash's (first, last, scans, first_channel, last_channel) as read; None
    when the hash does not exist."""
    first, last, scans, first_channel, last_channel = (
        v.decode() if isinstance(v, bytes) else v for v in row)
    if not scans:
        return None
    return Touch(int(first), int(last), int(scans), first_channel or None,
                 last_channel or None)


def peek(redis: Redis, touches: list[TouchEvent]) -> dict[tuple[str, str], Touch]:
    """What :func:`record` would return, without counting anything (for previews)."""
    pipe = redis.pipeline(transaction=False)
    for t in touches:
        pipe.exists(f"bridge:touched:{t.key}")
        pipe.hmget(f"{_stats(t.campaign)}:touch:{t.openid}", "first", "last", "scans",
                   "first_channel", "last_channel")
    results = pipe.execute() if touches else []
    out: dict[tuple[str, str], Touch] = {}
    for i, t in enumerate(touches):
        counted, row = results[2 * i], results[2 * i + 1]
        touch = out.get((t.campaign, t.openid)) or _touch(row)
        if not counted:
            channel = t.channel or None
            if touch is None:
                touch = Touch(t.at, t.at, 1, channel, channel)
            else:
                earlier, later = t.at < touch.first, t.at >= touch.last
                touch = Touch(min(touch.first, t.at), max(touch.last, t.at), touch.scans + 1,
                              channel if earlier else touch.first_channel,
                              channel if later else touch.last_channel)
        if touch is not None:
            out[(t.campaign, t.openid)] = touch
    return out


@dataclass(frozen=True)
class ChannelCounts:
    """One channel's figures (``channel`` None: the campaign's own code)."""

    channel: str | None
    scans: int
    scanners: int
    new_followers: int


def counts(redis: Redis, campaign: str) -> tuple[list[ChannelCounts], ChannelCounts]:
    """Per channel (the campaign's own code first, then by name) and in total: scans,
    unique scanners, new followers. A person scanning two channels' codes counts once in
    the total's scanners."""
    stats = _stats(campaign)
    channels = sorted(c.decode() for c in redis.smembers(f"{stats}:channels"))
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(stats)
    for channel in channels:
        pipe.scard(f"{stats}:scanners:{channel}")
        pipe.scard(f"{stats}:followers:{channel}")
    pipe.scard(f"{stats}:scanners")
    pipe.scard(f"{stats}:followers")
    results = pipe.execute()
    scans = {k.decode().partition(":")[2]: int(v) for k, v in results[0].items()}
    rows = [ChannelCounts(channel or None, scans.get(channel, 0), results[1 + 2 * i],
                          results[2 + 2 * i]) for i, channel in enumerate(channels)]
    total = ChannelCounts(None, sum(scans.values()), results[-2], results[-1])
    return rows, total


def touches_of(plans: list, events: dict) -> list[TouchEvent]:
    """The touches a batch's plans (``mappings.plan.EventPlan``) make: scans and follows
    whose scene names a campaign. ``events``: dedupe key → InboundEvent."""
    out = []
    for plan in plans:
        event = events.get(plan.key)
        if plan.campaign_key and event is not None and event.rule_name in ("subscribe", "scan"):
            out.append(TouchEvent(plan.key, plan.campaign_key, plan.openid, plan.create_time,
                                  event.channel, followed=event.rule_name == "subscribe"))
    return out
