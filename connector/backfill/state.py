"""The backfill's progress in Redis: what a restarted backfill resumes from, and what
``connector backfill status`` shows.

Per account (keys ``bridge:backfill:<account>:``):

    state    a hash: ``status`` (running, waiting, stopped, finished), ``why`` (what it
             waits for), the times, ``total`` (WeChat's follower count), ``cursor`` (the
             ``next_openid`` that reads the page after the current one), and the
             counters: pages_done, read, created, matched, skipped, calls_wechat,
             calls_salesforce
    page     the current page's OpenIDs (JSON), kept from the first read, so a resumed
             page has the same batches whatever WeChat's list did meanwhile
    done     the current page's batches written (a set of their positions; batches are
             written a few at a time, so they finish in any order)
    skipped  a hash: reason → followers skipped for it

Progress is recorded only after the writes it stands for: a batch's counters and its
``done`` mark in one MULTI after its Salesforce calls, a page's ``cursor`` after its
last batch. A backfill killed at any point therefore redoes at most the batch it was
writing (upserts by external id: nothing is duplicated), never a finished one.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from redis import Redis

PREFIX = "bridge:backfill:"
COUNTERS = ("pages_done", "read", "created", "matched", "skipped", "calls_wechat",
            "calls_salesforce")


@dataclass
class Snapshot:
    """The backfill of one account as Redis holds it."""

    account: str
    status: str = "never run"
    why: str = ""
    started: float | None = None
    updated: float | None = None
    finished: float | None = None
    total: int = 0
    cursor: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"account": self.account, "status": self.status, "why": self.why,
                "started": self.started, "updated": self.updated,
                "finished": self.finished, "total": self.total,
                **{name: self.counts.get(name, 0) for name in COUNTERS},
                "skipped_reasons": dict(self.skipped)}


class BackfillState:
    """One account's backfill state (see the module's key list)."""

    def __init__(self, redis: Redis, account: str) -> None:
        self.redis = redis
        self.account = account
        self.prefix = f"{PREFIX}{account}:"
        self.key, self.page_key = self.prefix + "state", self.prefix + "page"
        self.skipped_key = self.prefix + "skipped"
        self.done_key = self.prefix + "done"

    @property
    def lock_name(self) -> str:
        """The lock one running backfill of the account holds."""
        return self.prefix + "lock"

    def reset(self) -> None:
        """Forget everything: the next run starts from the first page."""
        self.redis.delete(self.key, self.page_key, self.skipped_key, self.done_key)

    def start(self) -> None:
        now = time.time()
        self.redis.hsetnx(self.key, "started", now)
        self.redis.hset(self.key, mapping={"status": "running", "why": "", "updated": now})
        self.redis.hdel(self.key, "finished")

    def set_status(self, status: str, why: str = "") -> None:
        fields = {"status": status, "why": why, "updated": time.time()}
        if status == "finished":
            fields["finished"] = time.time()
        self.redis.hset(self.key, mapping=fields)

    def snapshot(self) -> Snapshot:
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(self.key).items()}
        skipped = {k.decode(): int(v) for k, v in self.redis.hgetall(self.skipped_key).items()}
        if not raw:
            return Snapshot(self.account, skipped=skipped)

        def when(name: str) -> float | None:
            return float(raw[name]) if raw.get(name) else None

        return Snapshot(self.account, status=raw.get("status", "running"),
                        why=raw.get("why", ""), started=when("started"),
                        updated=when("updated"), finished=when("finished"),
                        total=int(raw.get("total") or 0), cursor=raw.get("cursor", ""),
                        counts={n: int(raw.get(n) or 0) for n in COUNTERS}, skipped=skipped)

    # -- the page in progress ---------------------------------------------------------------

    def current_page(self) -> tuple[list[str], str] | None:
        """The page being written, and the cursor of the page after it; None between pages."""
        raw = self.redis.get(self.page_key)
        if raw is None:
            return None
        data = json.loads(raw)
        return data["openids"], data["next"]

    def done_batches(self) -> set[int]:
        """The positions of the current page's batches already written."""
        return {int(i) for i in self.redis.smembers(self.done_key)}

    def keep_page(self, openids: list[str], next_cursor: str, total: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(self.page_key, json.dumps({"openids": openids, "next": next_cursor}))
            pipe.delete(self.done_key)
            pipe.hset(self.key, mapping={"total": total, "updated": time.time()})
            pipe.execute()

    def batch_done(self, index: int, counts: Counter, skipped: Counter) -> None:
        """Batch ``index`` of the current page is written: its counts and its mark, at once."""
        with self.redis.pipeline() as pipe:
            pipe.sadd(self.done_key, index)
            pipe.hset(self.key, mapping={"updated": time.time()})
            for name, n in counts.items():
                if n:
                    pipe.hincrby(self.key, name, n)
            for reason, n in skipped.items():
                pipe.hincrby(self.skipped_key, reason, n)
            pipe.execute()

    def page_done(self, next_cursor: str) -> None:
        """The current page is written: the next run reads the one after it."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key, mapping={"cursor": next_cursor, "updated": time.time()})
            pipe.hincrby(self.key, "pages_done", 1)
            pipe.delete(self.page_key, self.done_key)
            pipe.execute()

    def count_calls(self, wechat: int, salesforce: int) -> None:
        """Calls spent outside a batch (reading a page, waiting for a quota)."""
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self.key, "calls_wechat", wechat)
            pipe.hincrby(self.key, "calls_salesforce", salesforce)
            pipe.execute()


def accounts(redis: Redis) -> list[str]:
    """The accounts a backfill ran for."""
    found = {key.decode()[len(PREFIX):].rpartition(":")[0]
             for key in redis.scan_iter(match=PREFIX + "*:state")}
    return sorted(found)
