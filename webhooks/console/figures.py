"""Where the console's figures come from, in one place so a source can be swapped (a
metrics snapshot, say): throughput per minute, and the API budgets of both systems.

Each function makes blocking Redis round trips: call them from the threadpool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis

from connector import wechat_quotas as call_quotas
from connector.messaging.quotas import describe_limit, limit_of, period_of
from connector.settings import Settings
from jobs import throughput


def traffic(redis: Redis, minutes: int = 30) -> throughput.Throughput:
    """Events received, written and failed per minute; waiting and retrying now."""
    return throughput.snapshot(redis, minutes)


@dataclass
class Budget:
    used: int | None
    limit: int | None
    allocation: float
    paused: dict[str, Any] | None
    held: dict[str, str]
    at: float | None

    @property
    def share(self) -> float | None:
        return self.used / self.limit if self.used is not None and self.limit else None


def salesforce_budget(redis: Redis, settings: Settings) -> Budget:
    """The org's daily API usage as the bridge last saw it (``Sforce-Limit-Info``), the
    share background work may use, and what waits for it."""
    from connector.salesforce import ApiBudget  # not with the web app: see routes.py

    status = ApiBudget(redis).status()
    usage = status.get("usage") or {}
    return Budget(usage.get("used"), usage.get("limit"), settings.SALESFORCE_API_ALLOCATION,
                  status.get("paused"), status.get("held") or {}, usage.get("at"))


def wechat_quotas(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    """Each Official Account's mass-message quota (per follower, WeChat's rule), and how
    many followers have used some or all of it this period (``connector/messaging/
    quotas.py`` counts each send in Redis)."""
    kind = settings.WECHAT_ACCOUNT_TYPE
    limit, _ = limit_of(kind)
    period = period_of(kind, time.time())
    rows = []
    for account in settings.wechat_accounts():
        name = account.original_id or account.app_id
        counts = [int(v) for v in redis.hvals(f"bridge:quota:{name}:{period}")]
        rows.append({"account": name, "rule": describe_limit(kind), "period": period,
                     "followers_messaged": len(counts),
                     "followers_at_limit": sum(1 for c in counts if c >= limit)})
    return rows


def wechat_call_quotas(redis: Redis, settings: Settings,
                       now: float | None = None) -> list[dict[str, Any]]:
    """Each Official Account's daily call quota per API, as the bridge counted its own
    calls today (``connector/wechat_quotas.py``; no call to WeChat), with when the day
    ends (midnight Beijing time)."""
    now = time.time() if now is None else now
    return [{"account": account.original_id or account.app_id, "app_id": account.app_id,
             "day": call_quotas.beijing_day(now),
             "resets_in": call_quotas.seconds_to_reset(now),
             "quotas": call_quotas.read(redis, account.app_id, now)}
            for account in settings.wechat_accounts()]
