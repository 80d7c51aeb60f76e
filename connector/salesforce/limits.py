"""The org's daily API limit, in pure decisions (no I/O).

Salesforce counts every app's calls to the org over a rolling 24 hours and refuses
calls once the limit is reached, until older calls age out: often hours (the answer is
403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded."). Every REST answer
carries ``Sforce-Limit-Info: api-usage=<used>/<limit>``, and ``GET limits`` answers
``DailyApiRequests: {Max, Remaining}``.

What the bridge decides from them:

- :func:`is_daily_limit`: a failure that pauses the queues (instead of retrying them
  to their horizon and giving up);
- :func:`allows`: whether work of a kind may spend calls now. Inbound events always
  may; background work (the change poll, backfills) only while the org's usage is below
  the bridge's allocation (``SALESFORCE_API_ALLOCATION``, a share of the limit), so
  that what remains is kept for inbound events;
- :func:`probe_frees`: whether a probe's answer ends a pause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from connector.errors import BridgeError, FatalError, RateLimitedError

DAILY_LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
# The same code also refuses too many concurrent long-running calls ("ConcurrentRequests
# (Concurrent API Requests) Limit exceeded."), which clears within seconds: the normal
# backoff fits it. Its message is the only thing that tells the two apart.
_CONCURRENT = re.compile(r"ConcurrentRequests", re.IGNORECASE)
_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")

URGENT_KINDS = frozenset({"inbound"})  # never held: what followers do now
BACKGROUND_KINDS = frozenset({"poll", "backfill"})  # held above the allocation
KINDS = URGENT_KINDS | BACKGROUND_KINDS


class ApiUsage(NamedTuple):
    """The org's daily API requests: ``used`` of ``limit`` (all apps, last 24 hours)."""

    used: int
    limit: int

    @property
    def share(self) -> float:
        """``used`` as a share of ``limit`` (above 1 when the org overran it)."""
        return self.used / self.limit if self.limit > 0 else 1.0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def __str__(self) -> str:
        return f"{self.used}/{self.limit} ({self.share:.0%})"


def parse_limit_info(value: str) -> ApiUsage | None:
    """``"api-usage=18/5000; per-app-api-usage=..."`` -> ``ApiUsage(18, 5000)``; None if
    absent."""
    match = _API_USAGE.search(value)
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


def usage_from_limits(payload: Mapping[str, Any]) -> ApiUsage:
    """The daily API requests of a ``GET limits`` answer.

    Raises:
        FatalError: the answer has no ``DailyApiRequests`` with ``Max`` and ``Remaining``.
    """
    daily = payload.get("DailyApiRequests") if isinstance(payload, Mapping) else None
    try:
        limit, remaining = int(daily["Max"]), int(daily["Remaining"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise FatalError("the org's limits answer has no DailyApiRequests Max and "
                         "Remaining", system="salesforce", code="UNEXPECTED_RESPONSE") from None
    return ApiUsage(limit - remaining, limit)


def is_daily_limit(error: BaseException) -> bool:
    """True when ``error`` is Salesforce refusing calls because the org's daily request
    limit is spent (not the short-lived concurrent-request limit)."""
    return (isinstance(error, RateLimitedError) and error.system == "salesforce"
            and error.code == DAILY_LIMIT_CODE and not _CONCURRENT.search(error.message))


def allows(kind: str, usage: ApiUsage | None, allocation: float) -> bool:
    """Whether work of ``kind`` may call Salesforce at ``usage`` (None: unknown).

    Inbound work always may. Background work may while the org's usage is below
    ``allocation`` (a share of the limit, 0 to 1); unknown usage allows it, its own
    calls' answers will tell.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of Salesforce work {kind!r}; one of {sorted(KINDS)}")
    if kind in URGENT_KINDS or usage is None:
        return True
    return usage.share < allocation


def held_reason(kind: str, usage: ApiUsage, allocation: float) -> str:
    """Why work of ``kind`` waits, for ``connector status``."""
    return (f"{kind} held: the org has used {usage} of its daily API requests, above the "
            f"bridge's allocation for background work ({allocation:.0%}, "
            f"SALESFORCE_API_ALLOCATION); inbound events still run")


def probe_frees(usage: ApiUsage | None, error: BridgeError | None) -> bool:
    """Whether a probe's outcome ends a pause: a ``GET limits`` answer (``usage``) with
    calls remaining, or a refusal for another reason than the limit (a ``FatalError``,
    e.g. a missing permission: the call got past the limit).
    """
    if error is not None:
        return isinstance(error, FatalError)
    return usage is not None and usage.remaining > 0
