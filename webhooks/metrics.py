"""``/metrics``: the bridge's counters in Prometheus' text format, and :func:`snapshot`,
the same figures as a dict (for the console).

Every process counts into Redis (``connector/metrics.py`` says why Redis and not
prometheus-client's multiprocess mode); a scrape reads them there, through a custom
collector, so the web dyno's ``/metrics`` shows the whole deployment: its own pushes,
every worker's jobs and API calls, the queues and the org's daily API usage.

Access: with ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``
(compared in constant time; 401 with ``WWW-Authenticate: Bearer`` otherwise), which is
how Prometheus' ``authorization`` / ``bearer_token`` and Grafana Agent scrape a Heroku
app: a dyno's routes face the internet. Unset, ``/metrics`` is open, as Prometheus
exporters are by convention (it holds counts only: no follower, record or payload), and
the web process says so at start-up.

Push counts reach Redis from a thread of their own (:class:`PushRecorder`), after the
answer: the callback's ack never waits for a count.
"""

from __future__ import annotations

import hmac
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis import Redis
from redis.exceptions import RedisError

from connector import metrics, wechat_quotas
from connector.settings import Settings
from connector.wayback import counters as changes
from jobs.queues import queue_depths
from webhooks.rejections import Rejected

log = logging.getLogger(__name__)

PATH = "/metrics"
# Pushes waiting for their count to be written; beyond it (Redis hanging) counts are
# dropped rather than memory spent.
MAX_PENDING = 100_000


class PushRecorder:
    """Writes callback push counts to Redis from one daemon thread, batching whatever
    arrived meanwhile into one pipeline. :meth:`record` never blocks nor raises."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queue: queue.Queue[tuple[str, float]] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, outcome: str, seconds: float) -> None:
        """Count one push (``accepted``, ``duplicate``, ``rejected_signature`` ...)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="push-metrics")
                    self._thread.start()
        try:
            self._queue.put_nowait((outcome, seconds))
        except queue.Full:
            log.warning("push counts dropped: Redis has not taken them for a while")

    def drain(self) -> None:
        """Wait until every push recorded so far is written (or its write failed)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                metrics.observe_pushes(self.redis, batch)
            except RedisError as exc:
                log.warning("could not count %d pushes: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


def rejected_outcome(exc: Rejected) -> str:
    """The ``pushes`` outcome of a refused push, from its status and reason."""
    reason = exc.reason
    if exc.status == 413:
        return "rejected_too_large"
    if "timestamp" in reason:
        return "rejected_stale"
    if "signature" in reason:
        return "rejected_signature"
    if "another account" in reason or "another app id" in reason:
        return "rejected_account"
    if exc.status == 403:
        return "rejected_mode"
    return "rejected_malformed"


def snapshot(redis: Redis, settings: Settings | None = None) -> dict[str, Any]:
    """Every figure ``/metrics`` shows, as plain data (counters since the deployment's
    first count; the console takes differences between two snapshots for rates):

    ``at`` (epoch seconds); ``pushes`` {outcome: n}; ``ack`` {outcome: {"count", "sum"
    (seconds), "buckets" {upper bound: cumulative n}}}; ``jobs`` {queue: {outcome: n}};
    ``api_calls`` {system: {verb: {outcome: n}}}; ``queues`` {queue: {queued, running,
    scheduled, failed}}; ``changes`` (the way back's counters); ``reached`` {system:
    epoch or None}; ``salesforce`` {used, limit, at, allocation, paused} (used/limit/at
    None until a call reported them); ``wechat_quotas`` {account: {api: {used, limit,
    exhausted}}}, today's daily call quota per API (``connector/wechat_quotas.py``; no
    account without ``settings``).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    raw = metrics.read(redis)
    ack: dict[str, dict[str, Any]] = {}
    for (outcome, name), n in raw["ack"].items():
        entry = ack.setdefault(outcome, {"count": 0, "sum": 0.0, "buckets": {}})
        if name == "sum":
            entry["sum"] = n / 1e6
        elif name == "+Inf":
            entry["count"] = n
        else:
            entry["buckets"][float(name)] = n
    jobs: dict[str, dict[str, int]] = {}
    for (queue_name, outcome), n in raw["jobs"].items():
        jobs.setdefault(queue_name, {})[outcome] = n
    calls: dict[str, dict[str, dict[str, int]]] = {}
    for (system, verb, outcome), n in raw["api_calls"].items():
        calls.setdefault(system, {}).setdefault(verb, {})[outcome] = n
    # late: the package loads the Salesforce client, which the web process leaves until
    # the first scrape (as the console does, webhooks/console/routes.py)
    from connector.salesforce.budget import ApiBudget

    budget = ApiBudget.for_settings(redis, settings)
    found = budget.usage(fresh_only=False)
    return {
        "at": time.time(),
        "pushes": {k[0]: n for k, n in raw["pushes"].items()},
        "ack": ack,
        "jobs": jobs,
        "api_calls": calls,
        "queues": queue_depths(redis),
        "changes": changes.read(redis),
        "reached": metrics.reached(redis),
        "salesforce": {
            "used": found[0].used if found else None,
            "limit": found[0].limit if found else None,
            "at": found[1] if found else None,
            "allocation": budget.allocation,
            "paused": budget.paused() is not None,
        },
        "wechat_quotas": {
            account.original_id or account.app_id: {
                q.api: {"used": q.used, "limit": q.limit, "exhausted": q.exhausted}
                for q in wechat_quotas.read(redis, account.app_id)}
            for account in (settings.wechat_accounts() if settings else ())},
    }


class BridgeCollector:
    """prometheus-client collector reading :func:`snapshot` at each scrape."""

    def __init__(self, redis: Redis, settings: Settings | None) -> None:
        self.redis = redis
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        snap = snapshot(self.redis, self.settings)
        pushes = CounterMetricFamily("bridge_wechat_pushes", "WeChat callback pushes by "
                                     "how they were answered", labels=["outcome"])
        for outcome, n in sorted(snap["pushes"].items()):
            pushes.add_metric([outcome], n)
        yield pushes
        ack = HistogramMetricFamily("bridge_wechat_ack_seconds", "The callback's own time "
                                    "per push, until its answer", labels=["outcome"])
        for outcome, h in sorted(snap["ack"].items()):
            counts = {repr(b): n for b, n in h["buckets"].items()}
            # a bound no push fell under is absent from Redis: cumulative, so carry over
            filled, last = [], 0
            for bound in metrics.ACK_BUCKETS:
                last = counts.get(repr(bound), last)
                filled.append((repr(bound), last))
            ack.add_metric([outcome], [*filled, ("+Inf", h["count"])], h["sum"])
        yield ack
        jobs = CounterMetricFamily("bridge_jobs", "Job runs by queue and outcome",
                                   labels=["queue", "outcome"])
        for queue_name, outcomes in sorted(snap["jobs"].items()):
            for outcome, n in sorted(outcomes.items()):
                jobs.add_metric([queue_name, outcome], n)
        yield jobs
        depth = GaugeMetricFamily("bridge_queue_jobs", "Jobs per rq queue and state",
                                  labels=["queue", "state"])
        for queue_name, states in sorted(snap["queues"].items()):
            for state, n in states.items():
                depth.add_metric([queue_name, state], n)
        yield depth
        calls = CounterMetricFamily("bridge_api_calls", "HTTP calls answered by Salesforce "
                                    "and WeChat, by verb and outcome",
                                    labels=["system", "verb", "outcome"])
        for system, verbs in sorted(snap["api_calls"].items()):
            for verb, outcomes in sorted(verbs.items()):
                for outcome, n in sorted(outcomes.items()):
                    calls.add_metric([system, verb, outcome], n)
        yield calls
        way_back = CounterMetricFamily("bridge_changes", "What the way back did "
                                       "(connector sync status)", labels=["kind"])
        for kind, n in sorted(snap["changes"].items()):
            way_back.add_metric([kind], n)
        yield way_back
        reached = GaugeMetricFamily("bridge_reached_timestamp_seconds", "When a call to "
                                    "the system last got an answer", labels=["system"])
        for system, at in snap["reached"].items():
            if at is not None:
                reached.add_metric([system], at)
        yield reached
        sf = snap["salesforce"]
        if sf["used"] is not None:
            yield GaugeMetricFamily("bridge_salesforce_api_used", "The org's API requests "
                                    "in the last 24 hours (Sforce-Limit-Info)",
                                    value=sf["used"])
            yield GaugeMetricFamily("bridge_salesforce_api_limit", "The org's daily API "
                                    "request limit", value=sf["limit"])
            yield GaugeMetricFamily("bridge_salesforce_api_usage_timestamp_seconds",
                                    "When the usage was read", value=sf["at"])
        yield GaugeMetricFamily("bridge_salesforce_api_allocation", "Share of the limit "
                                "above which background work waits",
                                value=sf["allocation"])
        yield GaugeMetricFamily("bridge_salesforce_paused", "1 while Salesforce calls are "
                                "paused for the daily limit", value=int(sf["paused"]))
        yield from _wechat_quota_gauges(snap["wechat_quotas"])


def _wechat_quota_gauges(quotas: dict[str, dict[str, dict[str, Any]]]) -> Iterator[Metric]:
    labels = ["account", "api"]
    used = GaugeMetricFamily("bridge_wechat_api_quota_used", "Calls the bridge made to "
                             "the WeChat API today (Beijing day)", labels=labels)
    limit = GaugeMetricFamily("bridge_wechat_api_quota_limit", "The WeChat API's daily "
                              "call limit (published, or as WeChat last said)",
                              labels=labels)
    spent = GaugeMetricFamily("bridge_wechat_api_quota_exhausted", "1 when the WeChat "
                              "API's daily quota is spent (45009 seen or count at limit)",
                              labels=labels)
    for account, apis in sorted(quotas.items()):
        for api, q in sorted(apis.items()):
            used.add_metric([account, api], q["used"])
            spent.add_metric([account, api], int(q["exhausted"]))
            if q["limit"] is not None:
                limit.add_metric([account, api], q["limit"])
    yield from (used, limit, spent)


def check_token(expected: str | None, authorization: str | None) -> None:
    """Refuse a scrape without ``Authorization: Bearer <expected>``; open when
    ``expected`` is None.

    Raises:
        Rejected: 401 without the token or with another.
    """
    if expected is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Rejected(401, "metrics scrape without a bearer token")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Rejected(401, "metrics scrape with a wrong bearer token")


def build_router(settings: Settings, redis: Redis, recorder: PushRecorder) -> APIRouter:
    """The ``/metrics`` route, bound to the settings, one Redis connection and the
    web process's push recorder (drained before each scrape, so the scrape includes
    this process's latest pushes)."""
    router = APIRouter()
    secret = getattr(settings, "METRICS_TOKEN", None)
    token = secret.get_secret_value().strip() if secret is not None else None
    if token is None:
        log.warning("/metrics is open to anyone: set METRICS_TOKEN to require a bearer token")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(redis, settings))  # type: ignore[arg-type]

    @router.get(PATH)
    def scrape(request: Request) -> Response:
        """Prometheus text format; 503 when Redis is down.

        Raises:
            Rejected: 401 without the configured bearer token (:func:`check_token`).
        """
        check_token(token, request.headers.get("authorization"))
        recorder.drain()
        try:
            body = generate_latest(registry)
        except RedisError as exc:
            log.error("metrics: Redis unavailable: %s", exc)
            return JSONResponse({"status": "redis unavailable"}, status_code=503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
