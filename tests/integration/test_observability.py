"""Observability on the real parts: signed pushes through the real callback, a real rq
worker against both emulators, ``/metrics`` parsed by prometheus-client's own parser,
``/readyz``, and the JSON log lines the job writes."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from redis import Redis
from rq import Worker

from connector import logs
from jobs.queues import inbound_queue
from sandbox.server import free_port, serve
from webhooks.app import create_app
from webhooks.metrics import snapshot

TOKEN = "m" * 40


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics``, by (name, sorted labels)."""
    answer = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_burst_moves_the_counters_between_two_scrapes(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Metrics hall", IsActive=True)
    people = [bridge.box.population.new_follower().openid for _ in range(8)]
    before = scrape(bridge.web.url)

    for openid in people:  # each push delivered 3 times at once: 1 accepted, 2 duplicates
        assert all(d.acknowledged for d in
                   bridge.sender.storm(wx.scan(openid, f"sfc_{campaign}"), 3))
    forged = httpx.post(bridge.web.url + "/wechat/callback",
                        params={"signature": "0" * 40, "timestamp": "1", "nonce": "n"},
                        content=b"<xml/>", timeout=10)
    assert forged.status_code == 403
    stale = httpx.post(bridge.web.url + "/wechat/callback",
                       params={"timestamp": "1", "nonce": "n"}, content=b"<xml/>", timeout=10)
    assert stale.status_code == 403
    queued = scrape(bridge.web.url)

    pushes = "bridge_wechat_pushes_total"
    assert value(queued, pushes, outcome="accepted") - value(
        before, pushes, outcome="accepted") == len(people)
    assert value(queued, pushes, outcome="duplicate") - value(
        before, pushes, outcome="duplicate") == 2 * len(people)
    assert value(queued, pushes, outcome="rejected_stale") == 2  # the window is checked first
    ack = "bridge_wechat_ack_seconds"
    assert value(queued, ack + "_count", outcome="accepted") == len(people)
    assert value(queued, ack + "_bucket", outcome="accepted", le="+Inf") == len(people)
    assert 0 < value(queued, ack + "_sum", outcome="accepted") < 5 * len(people)
    assert value(queued, "bridge_queue_jobs", queue="inbound", state="queued") == len(people)
    assert value(before, "bridge_jobs_total", queue="inbound", outcome="written") == 0

    bridge.work()
    done = scrape(bridge.web.url)
    jobs = {dict(k[1])["outcome"]: v for k, v in done.items()
            if k[0] == "bridge_jobs_total" and dict(k[1])["queue"] == "inbound"}
    assert jobs.get("written", 0) >= 1  # the rest were coalesced into its batch
    assert sum(jobs.values()) >= len(people)
    assert jobs.get("written", 0) + jobs.get("coalesced", 0) == len(people)
    assert value(done, "bridge_queue_jobs", queue="inbound", state="queued") == 0
    sf_calls = sum(v for k, v in done.items() if k[0] == "bridge_api_calls_total"
                   and dict(k[1])["system"] == "salesforce")
    assert sf_calls >= 1
    # the new Leads (one sObject Collections request), then their follower records and
    # members together (two requests: one Composite call)
    assert value(done, "bridge_api_calls_total", system="salesforce",
                 verb="PATCH composite/sobjects", outcome="ok") >= 1
    assert value(done, "bridge_api_calls_total", system="salesforce",
                 verb="POST composite", outcome="ok") >= 1
    assert any(k[0] == "bridge_api_calls_total" and dict(k[1])["system"] == "wechat"
               and dict(k[1])["verb"].endswith("user/info/batchget") for k in done)
    assert value(done, "bridge_salesforce_api_limit") > 0  # Sforce-Limit-Info, shared

    ready = httpx.get(bridge.web.url + "/readyz", timeout=10)
    body = ready.json()
    assert ready.status_code == 200 and body["redis"] == "ok"
    assert body["salesforce"]["recent"] and body["wechat"]["recent"]

    snap = snapshot(bridge.redis)  # what the console reads
    assert snap["pushes"]["accepted"] == len(people)
    assert snap["jobs"]["inbound"] == {k: int(v) for k, v in jobs.items()}


def test_readyz_before_any_call_and_with_redis_down(bridge):
    body = httpx.get(bridge.web.url + "/readyz", timeout=10).json()
    assert body["salesforce"] == {"last_answer": None, "age_seconds": None, "recent": False}
    down = Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    server = serve(create_app(bridge.context.settings, down))
    try:
        answer = httpx.get(server.url + "/readyz", timeout=10)
        assert (answer.status_code, answer.json()) == (
            503, {"status": "unavailable", "redis": "unavailable"})
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 503
    finally:
        server.stop()


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}x"}, id="wrong-token"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="another-scheme"),
])
def test_metrics_need_the_token_when_one_is_set(bridge, headers):
    settings = bridge.context.settings.model_copy(update={"METRICS_TOKEN": SecretStr(TOKEN)})
    server = serve(create_app(settings, bridge.redis))
    try:
        refused = httpx.get(server.url + "/metrics", headers=headers, timeout=10)
        assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
        assert "bridge_" not in refused.text
        samples = scrape(server.url, Authorization=f"Bearer {TOKEN}")
        assert ("bridge_salesforce_paused", ()) in samples
    finally:
        server.stop()


def test_job_log_lines_are_json_with_the_job_id_and_event_key_and_no_token(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Log hall", IsActive=True)
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    [job_id] = bridge.redis.lrange("rq:queue:inbound", 0, -1)

    stream = io.StringIO()  # not a terminal: JSON
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # DEBUG: urllib3 logs every URL, access_token included
    logs.setup("DEBUG", stream, force=True)
    try:
        bridge.work()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    in_job = [line for line in lines if line.get("job_id") == job_id.decode()]
    assert in_job and all(line["event_key"] == job_id.decode() for line in in_job
                          if "event_key" in line)
    assert any(line.get("event_key") == job_id.decode() for line in in_job)
    token = bridge.context.wechat.for_account(None).access_token()
    text = stream.getvalue()
    assert "access_token=[REDACTED]" in text  # the URLs were logged ...
    assert token not in text  # ... without the token


def test_counts_made_in_forked_work_horses_reach_the_web_scrape(bridge):
    """rq's Worker forks a horse per job, which exits after it: its counts must still be
    in the web process's scrape (they live in Redis, not in the horse's memory)."""
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Forked hall", IsActive=True)
    for _ in range(3):
        openid = bridge.box.population.new_follower().openid
        assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    worker = Worker([inbound_queue(bridge.redis)], connection=bridge.redis)
    worker.work(burst=True, logging_level="WARNING")
    samples = scrape(bridge.web.url)
    runs = sum(v for k, v in samples.items() if k[0] == "bridge_jobs_total")
    assert runs >= 3
    assert value(samples, "bridge_api_calls_total", system="salesforce",
                 verb="POST composite", outcome="ok") >= 1


def test_a_wechat_quota_refusal_is_counted_by_its_errcode(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Quota hall", IsActive=True)
    wx.faults.add(endpoint="user/info/batchget", status=200, code="45009", count=1)
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()
    samples = scrape(bridge.web.url)
    assert value(samples, "bridge_api_calls_total", system="wechat",
                 verb="POST user/info/batchget", outcome="errcode_45009") == 1
    # the quota view agrees: the API is spent for the day (its job waits for midnight in
    # Beijing), and every call the bridge made is counted against its API's quota
    account = wx.original_id
    assert value(samples, "bridge_wechat_api_quota_exhausted", account=account,
                 api="user/info/batchget") == 1
    assert value(samples, "bridge_wechat_api_quota_used", account=account,
                 api="stable_token") >= 1
    assert value(samples, "bridge_wechat_api_quota_limit", account=account,
                 api="user/get") == 500
    assert value(samples, "bridge_wechat_api_quota_exhausted", account=account,
                 api="user/get") == 0
