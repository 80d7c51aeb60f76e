"""The rules of the bridge's QR codes, pure: which scene a code gets, how long it lives,
when the permanent-code limit warns or refuses, and how record Ids are normalised.

**One code per record (and channel), unless forced.** The first code of a record has
the scene ``<prefix><Id>`` (a channel code ``<prefix><Id>.<channel>``). WeChat answers
the same permanent scene with the same code, so a *new* code (``--force``, or a new code
after a temporary one expired) needs a new scene: code number ``n`` > 1 carries the
version mark ``~n`` at the end — ``sfc_<Id>.~2``, or ``sfc_<Id>.store-042~3`` for a
channel code. :func:`connector.scenes.parse_scene` takes it apart again, so a scan of any
version names the same record and channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.ids import id18
from connector.scenes import Scene

PERMANENT_LIMIT = 100_000  # WeChat's permanent codes per Official Account
WARN_SHARE = 0.9  # warn from 90% of the limit
MAX_TEMPORARY_DAYS = 30  # WeChat's longest temporary code
DAY = 86_400
CHANNEL = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class QrRequestError(ValueError):
    """A request for a code that cannot be met as asked; the message says what to do."""


def record_id18(value: str) -> str:
    """The 18-character form of a 15- or 18-character Salesforce record Id (codes and
    the registry always use it: it survives case-insensitive fields).

    Raises:
        QrRequestError: not a record Id (the message says why).
    """
    try:
        return id18(value)
    except ValueError as exc:
        raise QrRequestError(str(exc)) from None


def check_channel(channel: str | None) -> str | None:
    """``channel`` if it can be part of a scene, else an error naming the rule.

    Raises:
        QrRequestError: characters other than letters, digits, ``-`` and ``_``, or more
            than 40 of them.
    """
    if channel is None:
        return None
    if not CHANNEL.match(channel):
        raise QrRequestError(f"channel {channel!r} must be 1 to 40 letters, digits, - or _ "
                             "(e.g. store-042): it becomes part of the code's scene")
    return channel


def expire_seconds(temporary_days: float | None) -> int | None:
    """The lifetime of a temporary code of ``temporary_days`` (None: permanent).

    Raises:
        QrRequestError: not more than 0, or more than 30 days (WeChat's longest).
    """
    if temporary_days is None:
        return None
    if not 0 < temporary_days <= MAX_TEMPORARY_DAYS:
        raise QrRequestError(
            f"a temporary QR code lives at most {MAX_TEMPORARY_DAYS} days (WeChat's limit), "
            f"and more than 0; {temporary_days:g} asked — use --temporary 1 to "
            f"{MAX_TEMPORARY_DAYS}, or a permanent code (no --temporary)")
    return max(1, round(temporary_days * DAY))


def code_scene(prefix: str, key: str, channel: str | None = None, version: int = 1) -> str:
    """The scene of code number ``version`` of ``key`` (and ``channel``).

    Raises:
        QrRequestError: the scene would be longer than WeChat's 64 characters.
    """
    try:
        return str(Scene(prefix, key, channel, version))
    except ValueError as exc:
        raise QrRequestError(str(exc)) from None


def code_key(account: str, scene: str) -> str:
    """The registry's unique key of a code: ``<account>:<scene>``."""
    return f"{account}:{scene}"


@dataclass(frozen=True)
class LimitCheck:
    """The permanent-code count against the limit: ``refuse`` (no more may be made),
    ``warn`` (from 90%), and the figures for the message."""

    count: int
    limit: int

    @property
    def refuse(self) -> bool:
        return self.count >= self.limit

    @property
    def warn(self) -> bool:
        return self.count + 1 >= self.limit * WARN_SHARE

    def message(self) -> str:
        if self.refuse:
            return (f"this account has {self.count:,} permanent QR codes, WeChat's limit is "
                    f"{self.limit:,}: no more can be made — make a temporary code "
                    "(--temporary DAYS, up to 30) instead")
        return (f"this account has {self.count + 1:,} of its {self.limit:,} permanent QR "
                f"codes (WeChat's limit); use temporary codes where a code need not last")


def expires_at(created_at: float, seconds: int | None) -> datetime | None:
    """When a code made at ``created_at`` (epoch seconds) lapses; None: never."""
    return None if seconds is None else datetime.fromtimestamp(created_at + seconds, tz=UTC)


def lapsed(expiry: datetime | None, now: float) -> bool:
    """True when a code with ``expiry`` no longer scans at ``now``."""
    return expiry is not None and expiry.timestamp() <= now
