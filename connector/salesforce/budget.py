"""The org's daily API budget as every process of the bridge shares it, in Redis.

Three things, decided by the pure rules of :mod:`connector.salesforce.limits`:

- **usage**: the latest ``Sforce-Limit-Info`` seen (every Salesforce answer passes
  :meth:`ApiBudget.observe`). Written at most once per :data:`WRITE_EVERY` seconds per
  process (an RQ work horse is a fresh fork per job, so about once per job), never a
  Redis round trip per call.
- **allocation**: :meth:`ApiBudget.allows` says whether work of a kind may call
  Salesforce now (background work is held above ``SALESFORCE_API_ALLOCATION``); a held
  kind is recorded, with why, for ``connector status``.
- **the pause**: once Salesforce refuses a call for the daily limit, :meth:`pause` sets
  a flag that every job checks before it calls Salesforce. Nothing fails meanwhile: jobs
  re-schedule themselves (``jobs/pausing.py``). One probe per
  ``SALESFORCE_LIMIT_PROBE_SECONDS`` (:meth:`claim_probe`, SET NX across processes)
  asks ``GET limits``; the first that finds calls free ends the pause.

Keys (``bridge:salesforce:`` prefix): ``usage`` (JSON: used, limit, at), ``paused``
(JSON: why, code, since, probes, last_probe, usage), ``probe`` (held for the interval by
the process that probes), ``held:<kind>`` (why that kind waits; expires).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis, RedisError

from connector.salesforce.limits import ApiUsage, allows, held_reason

log = logging.getLogger("connector.salesforce")

PREFIX = "bridge:salesforce:"
USAGE, PAUSED, PROBE = PREFIX + "usage", PREFIX + "paused", PREFIX + "probe"
HELD = PREFIX + "held:"
WRITE_EVERY = 10.0  # seconds between two usage writes of one process
# Usage older than this is not trusted to hold work: the window has rolled on since, and
# held work makes no calls that would refresh it. The held work then runs, and its own
# answers say where the org stands.
FRESH_SECONDS = 600
# A pause outlives any wait for the window (24 h); a probe that finds the calls free
# ends it long before. The expiry only keeps a forgotten flag from lasting for ever.
PAUSE_KEEP_SECONDS = 2 * 24 * 3600
DEFAULT_ALLOCATION, DEFAULT_PROBE_SECONDS = 0.8, 60


@dataclass(frozen=True)
class Pause:
    """Why the queues wait for Salesforce, since when, and the probes so far."""

    why: str
    code: str | None
    since: float
    probes: int = 0
    last_probe: float | None = None
    usage: str | None = None
    probe_seconds: float = DEFAULT_PROBE_SECONDS

    @property
    def next_probe(self) -> float:
        """When the next probe may go (epoch seconds)."""
        return (self.last_probe or self.since) + self.probe_seconds


class ApiBudget:
    """The shared budget for one Redis. Cheap to build; :meth:`observe` keeps a
    per-instance clock of its last write, so the gateway holds one for its life."""

    def __init__(self, redis: Redis, *, allocation: float = DEFAULT_ALLOCATION,
                 probe_seconds: float = DEFAULT_PROBE_SECONDS) -> None:
        self.redis = redis
        self.allocation = allocation
        self.probe_seconds = probe_seconds
        self._written_at: float | None = None

    @classmethod
    def for_settings(cls, redis: Redis, settings: Any) -> ApiBudget:
        """From ``SALESFORCE_API_ALLOCATION`` and ``SALESFORCE_LIMIT_PROBE_SECONDS``."""
        return cls(redis,
                   allocation=getattr(settings, "SALESFORCE_API_ALLOCATION", DEFAULT_ALLOCATION),
                   probe_seconds=getattr(settings, "SALESFORCE_LIMIT_PROBE_SECONDS",
                                         DEFAULT_PROBE_SECONDS))

    # -- usage -------------------------------------------------------------------------

    def observe(self, usage: ApiUsage, *, force: bool = False) -> None:
        """Record the latest usage, unless this instance wrote one less than
        :data:`WRITE_EVERY` seconds ago (``force``: write anyway). Redis failing is
        logged: the usage is advice, the call it came with succeeded."""
        now = time.monotonic()
        if not force and self._written_at is not None and now - self._written_at < WRITE_EVERY:
            return
        self._written_at = now
        value = json.dumps({"used": usage.used, "limit": usage.limit, "at": time.time()})
        try:
            self.redis.set(USAGE, value, ex=2 * FRESH_SECONDS)
        except RedisError as exc:
            log.warning("cannot record the Salesforce API usage: %s", exc)

    def usage(self, *, fresh_only: bool = True) -> tuple[ApiUsage, float] | None:
        """The latest usage recorded and when (epoch seconds); None when none is, or
        (``fresh_only``) it is older than :data:`FRESH_SECONDS`."""
        raw = self.redis.get(USAGE)
        if not raw:
            return None
        data = json.loads(raw)
        if fresh_only and time.time() - data["at"] > FRESH_SECONDS:
            return None
        return ApiUsage(int(data["used"]), int(data["limit"])), float(data["at"])

    def allows(self, kind: str) -> bool:
        """Whether work of ``kind`` (``inbound``, ``poll``, ``backfill``) may call
        Salesforce now, by the allocation (the pause is :meth:`paused`). A held kind is
        recorded for ``connector status``; an allowed one's record is dropped.

        Raises:
            ValueError: an unknown kind.
            redis.exceptions.RedisError: Redis is unreachable.
        """
        found = self.usage()
        usage = found[0] if found else None
        if allows(kind, usage, self.allocation) or usage is None:
            self.redis.delete(HELD + kind)
            return True
        reason = held_reason(kind, usage, self.allocation)
        self.redis.set(HELD + kind, json.dumps({"why": reason, "at": time.time()}),
                       ex=FRESH_SECONDS)
        log.info("%s", reason)
        return False

    # -- the pause ---------------------------------------------------------------------

    def pause(self, why: str, code: str | None = None, usage: ApiUsage | None = None) -> Pause:
        """Pause the queues (a probe is due after the interval: the call that was
        refused counts as one). A pause already set keeps its start."""
        current = self.paused()
        now = time.time()
        state = Pause(why=why, code=code, since=current.since if current else now,
                      probes=current.probes if current else 0, last_probe=now,
                      usage=str(usage) if usage else (current.usage if current else None),
                      probe_seconds=self.probe_seconds)
        with self.redis.pipeline() as pipe:
            pipe.set(PAUSED, json.dumps(asdict(state)), ex=PAUSE_KEEP_SECONDS)
            pipe.set(PROBE, "refused", px=int(self.probe_seconds * 1000))
            pipe.execute()
        if current is None:
            log.warning("Salesforce calls paused: %s; jobs wait and re-schedule "
                        "themselves, one probe every %d s", why, self.probe_seconds)
        return state

    def paused(self) -> Pause | None:
        """The pause, or None when calls may go."""
        raw = self.redis.get(PAUSED)
        return Pause(**json.loads(raw)) if raw else None

    def claim_probe(self) -> bool:
        """True for the one caller that may probe in this interval."""
        return bool(self.redis.set(PROBE, "probing", nx=True,
                                   px=int(self.probe_seconds * 1000)))

    def probed(self, usage: ApiUsage | None, outcome: str) -> None:
        """A probe found the limit still spent: count it, say what it found."""
        current = self.paused()
        if current is None:
            return
        state = Pause(why=current.why, code=current.code, since=current.since,
                      probes=current.probes + 1, last_probe=time.time(),
                      usage=str(usage) if usage else current.usage,
                      probe_seconds=current.probe_seconds)
        self.redis.set(PAUSED, json.dumps(asdict(state)), ex=PAUSE_KEEP_SECONDS)
        log.info("Salesforce probe: %s; still paused", outcome)

    def resume(self, usage: ApiUsage | None = None) -> None:
        """End the pause (a probe found calls free)."""
        with self.redis.pipeline() as pipe:
            pipe.delete(PAUSED, PROBE)
            pipe.execute()
        if usage is not None:
            self.observe(usage, force=True)
        log.warning("Salesforce calls resumed (usage %s)", usage or "unknown")

    # -- status ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``connector status`` says of Salesforce: the pause (with its next probe),
        the latest usage, and the kinds of work held with why."""
        pause = self.paused()
        found = self.usage(fresh_only=False)
        held = {}
        for key in self.redis.scan_iter(match=HELD + "*", count=100):
            name = key.decode() if isinstance(key, bytes) else key
            raw = self.redis.get(name)
            if raw:
                held[name[len(HELD):]] = json.loads(raw)["why"]
        return {
            "paused": None if pause is None else {
                **asdict(pause), "next_probe": pause.next_probe},
            "usage": None if found is None else {
                "used": found[0].used, "limit": found[0].limit, "at": found[1]},
            "held": held,
        }
