"""Salesforce API calls per scan event in a burst: the bridge vs the naive design.

A burst of N scans (new followers, two campaigns) goes through the real callback into the
queue; one worker drains it. The Salesforce sandbox counts every REST call. The baseline,
run in the same process against the same sandbox, is the naive design: for each event,
query Contact, query Lead, create Lead, create CampaignMember (about 4 calls).

    python -m benchmarks.api_calls [--events 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

from rq import SimpleWorker

from connector.redis_connection import connect, redis_url_from_env
from connector.salesforce import SalesforceGateway
from connector.settings import load_settings
from jobs.queues import inbound_queue
from jobs.runtime import build_context, use_context
from sandbox.run import start_sandbox
from sandbox.server import serve
from sandbox.wechat import CallbackSender
from webhooks.app import create_app


def naive(sf: SalesforceGateway, openid: str, campaign_id: str) -> None:
    """The design card's naive path for one scan event."""
    if sf.query("SELECT Id FROM Contact WHERE WeChat_OpenId__c = {o}", o=openid):
        return
    if sf.query("SELECT Id FROM Lead WHERE WeChat_OpenId__c = {o}", o=openid):
        return
    lead = sf.create("Lead", {"LastName": "WeChat Follower", "Company": "WeChat",
                              "WeChat_OpenId__c": openid})
    sf.create("CampaignMember", {"CampaignId": campaign_id, "LeadId": lead})


def run(events: int) -> dict[str, float]:
    os.environ["REDIS_URL"] = redis_url_from_env()
    redis = connect()
    redis.flushdb()
    box = start_sandbox(Path(tempfile.mkdtemp(prefix="bench-")), followers=50)
    os.environ.update(box.env)
    settings = load_settings()
    context = build_context(settings, redis)
    use_context(context)
    web = serve(create_app(settings, redis))
    sf, wx = box.salesforce, box.wechat
    campaigns = [sf.seed("Campaign", Name=f"C{i}", IsActive=True) for i in range(2)]
    env = box.env
    sender = CallbackSender(f"{web.url}/wechat/callback", token=env["WECHAT_TOKEN"],
                            app_id=env["WECHAT_APP_ID"], original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"])
    try:
        people = [box.population.new_follower().openid for _ in range(events)]
        for i, openid in enumerate(people):
            sender.deliver(wx.scan(openid, f"sfc_{campaigns[i % 2]}"))
        sf.reset_counters()
        started = time.perf_counter()
        SimpleWorker([inbound_queue(redis)], connection=redis).work(
            burst=True, logging_level="WARNING")
        bridge_seconds = time.perf_counter() - started
        bridge_calls = sf.api_calls["total"]
        members = len(sf.records("CampaignMember"))

        baseline = SalesforceGateway(settings)
        naive_people = [box.population.new_follower().openid for _ in range(events)]
        sf.reset_counters()
        started = time.perf_counter()
        for i, openid in enumerate(naive_people):
            naive(baseline, openid, campaigns[i % 2])
        naive_seconds = time.perf_counter() - started
        naive_calls = sf.api_calls["total"]
    finally:
        use_context(None)
        sender.close()
        gc.collect()
        web.stop()
        box.stop()
    return {
        "events": events, "members": members,
        "bridge_calls": bridge_calls, "bridge_per_event": bridge_calls / events,
        "bridge_seconds": bridge_seconds,
        "naive_calls": naive_calls, "naive_per_event": naive_calls / events,
        "naive_seconds": naive_seconds,
        "ratio": (bridge_calls / events) / (naive_calls / events),
    }


def report(r: dict[str, float]) -> None:
    print(f"API calls per scan event, burst of {r['events']} events "
          f"({r['members']} campaign members written)")
    print(f"  bridge (coalesced): {r['bridge_calls']:>6} calls  "
          f"{r['bridge_per_event']:.3f}/event  {r['bridge_seconds']:.1f} s")
    print(f"  naive baseline:     {r['naive_calls']:>6} calls  "
          f"{r['naive_per_event']:.3f}/event  {r['naive_seconds']:.1f} s")
    print(f"  ratio bridge/naive: {r['ratio']:.4f}  "
          f"({1 / r['ratio']:.0f}x fewer calls)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    report(run(parser.parse_args().events))
