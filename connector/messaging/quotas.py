"""WeChat's mass-message quota per follower, kept in Redis and checked before sending.

WeChat lets each follower receive only so many mass messages: from a service account 4
per calendar month, from a subscription account 1 per day (periods in Beijing time,
Asia/Shanghai, which has no daylight saving: UTC+8). Sends beyond it are silently
dropped by WeChat for that follower, so the bridge counts what it sent and skips a
follower whose quota is used *before* it sends.

:func:`reserve` takes one message from each follower's quota, atomically (one Lua call
for the whole list), so concurrent senders never exceed it; the followers without room
are returned as denied. :func:`release` gives reservations back when the send call
fails as a whole (WeChat sent nothing). Counts live in one Redis hash per account and
period (``bridge:quota:<account>:<period>``, openid → messages), kept until the period
is over. Mass messages sent outside the bridge (the WeChat console) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from redis import Redis

AccountType = Literal["service", "subscription"]
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# Per follower: (messages, period) by account type.
LIMITS: dict[str, tuple[int, str]] = {"service": (4, "month"), "subscription": (1, "day")}
KEEP_AFTER = 7 * 86400  # a finished period's counts stay a week, for ops to look at

# KEYS[1] the period's hash; ARGV: limit, seconds to keep it, openids...
# Returns one 1 (reserved) or 0 (no room) per openid, in order.
_RESERVE = """
local limit = tonumber(ARGV[1])
local result = {}
for i = 3, #ARGV do
  local used = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if used < limit then
    redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return result
"""

# KEYS[1] the period's hash; ARGV: openids... (never below zero)
_RELEASE = """
for i = 1, #ARGV do
  if tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], ARGV[i], -1)
  end
end
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """The outcome of :func:`reserve`: ``allowed`` openids each took one message of the
    period ``period`` (``release`` needs it); ``denied`` had none left."""

    account: str
    period: str
    limit: int
    allowed: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)


def limit_of(kind: AccountType) -> tuple[int, str]:
    """(messages per follower, ``month`` or ``day``) for an account type.

    Raises:
        ValueError: an unknown account type.
    """
    try:
        return LIMITS[kind]
    except KeyError:
        raise ValueError(f"unknown account type {kind!r}; expected service or "
                         "subscription") from None


def period_of(kind: AccountType, now: float) -> str:
    """The quota period ``now`` falls in, in Beijing time: ``2024-03`` (service) or
    ``2024-03-31`` (subscription)."""
    moment = datetime.fromtimestamp(now, BEIJING)
    return moment.strftime("%Y-%m" if limit_of(kind)[1] == "month" else "%Y-%m-%d")


def period_end(kind: AccountType, now: float) -> float:
    """Epoch seconds when the period of ``now`` ends (the next one starts)."""
    moment = datetime.fromtimestamp(now, BEIJING)
    if limit_of(kind)[1] == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return (start + timedelta(days=1)).timestamp()
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year,
                                                                   moment.month + 1)
    return datetime(year, month, 1, tzinfo=BEIJING).timestamp()


def describe_limit(kind: AccountType) -> str:
    """In words, for skip reasons: ``4 mass messages a month (service account)``."""
    limit, unit = limit_of(kind)
    return (f"{limit} mass message{'s' if limit > 1 else ''} a {unit} "
            f"({kind} account, {unit}s in Beijing time)")


def _key(account: str, period: str) -> str:
    return f"bridge:quota:{account}:{period}"


def reserve(redis: Redis, account: str, kind: AccountType, openids: Iterable[str],
            now: float) -> Reservation:
    """Take one mass message from each follower's quota, where there is room.

    Duplicated openids count once. Atomic: two senders reserving for the same followers
    at once never take more than the limit between them.
    """
    wanted = list(dict.fromkeys(openids))
    limit, _ = limit_of(kind)
    period = period_of(kind, now)
    if not wanted:
        return Reservation(account, period, limit)
    keep = int(period_end(kind, now) - now) + KEEP_AFTER  # relative: ``now`` is ours
    flags = redis.eval(_RESERVE, 1, _key(account, period), limit, keep, *wanted)
    allowed = [o for o, ok in zip(wanted, flags, strict=True) if int(ok)]
    denied = [o for o, ok in zip(wanted, flags, strict=True) if not int(ok)]
    return Reservation(account, period, limit, allowed, denied)


def release(redis: Redis, reservation: Reservation, openids: Iterable[str] | None = None,
            ) -> None:
    """Give back the reservations of ``openids`` (default: all allowed), in the period
    they were made in."""
    given = list(reservation.allowed if openids is None else openids)
    if given:
        redis.eval(_RELEASE, 1, _key(reservation.account, reservation.period), *given)


def used(redis: Redis, account: str, kind: AccountType, openids: Iterable[str],
         now: float) -> dict[str, int]:
    """Mass messages each follower received from the bridge in the period of ``now``."""
    wanted = list(dict.fromkeys(openids))
    if not wanted:
        return {}
    values = redis.hmget(_key(account, period_of(kind, now)), wanted)
    return {o: int(v or 0) for o, v in zip(wanted, values, strict=True)}
