"""The way back's latency: from an admin's edit of a Lead in Salesforce to the WeChat API
call that sets the follower's remark.

Real parts throughout: the Salesforce sandbox sends an Outbound Message (its own thread,
as the org's queue would) to the bridge's web process (``connector web``, a subprocess),
which acknowledges and queues the change; a real worker (``connector worker``, RQ's
HerokuWorker, a subprocess) re-reads the Lead and calls ``user/info/updateremark`` on the
WeChat sandbox, which notes when the call arrives. Edits are made one at a time, each
waiting for its remark (no queueing).

Baselines in the same run: the WeChat call alone (the gateway's ``update_remark`` from
this process: the floor any path pays), and the poll path (the clock at its shortest
interval, ``POLL_INTERVAL_SECONDS=5``), what the bridge would take without Outbound
Messages.

    python -m benchmarks.outbound_latency [--edits 100] [--poll-edits 6]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from connector.cli.processes import stop_children
from connector.redis_connection import connect, redis_url_from_env
from connector.settings import load_settings
from connector.wayback.poll import last_polls
from connector.wechat import WeChatGateway
from jobs.queues import changes_queue
from sandbox.run import start_sandbox
from sandbox.server import free_port

MAPPING = """
version: 1
follower:
  object: WeChat_Follower__c
  external_id: OpenId__c
  link: { Contact: Contact__c, Lead: Lead__c }
  fields:
    Remark__c: { source: follower.remark }
match:
  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }
  - { object: Lead,    field: WeChat_OpenId__c, source: follower.openid }
create: Lead
objects:
  Lead:
    LastName:    { source: follower.remark, default: "WeChat Follower" }
    Company:     { value: WeChat }
    Description: { source: follower.remark, sync: both }
"""


class Arrivals:
    """When the WeChat sandbox received each remark (wrapping its population's setter)."""

    def __init__(self, population) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._cond = threading.Condition()
        original = population.set_remark

        def set_remark(openid: str, remark: str):
            record = original(openid, remark)
            with self._cond:
                self._seen[(openid, remark)] = time.perf_counter()
                self._cond.notify_all()
            return record

        population.set_remark = set_remark

    def wait(self, openid: str, remark: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (openid, remark) not in self._seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._seen[(openid, remark)]


def _spawn(role: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "--log-level", "WARNING",
                             role], env={**os.environ, **env})


def _wait_web(url: str, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.poll() is None:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the web process did not start")


def _wait_first_poll(redis) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "Lead" in last_polls(redis) and changes_queue(redis).count == 0 and not \
                changes_queue(redis).started_job_registry.count:
            return
        time.sleep(0.1)
    raise RuntimeError("the clock's first poll did not run")


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"n": len(ms), "p50": q[49], "p95": q[94], "max": ms[-1]}


def _edit_and_wait(sf, arrivals: Arrivals, lead: str, openid: str, text: str,
                   timeout: float) -> float:
    started = time.perf_counter()
    sf.edit("Lead", lead, {"Description": text})
    arrived = arrivals.wait(openid, text, timeout)
    if arrived is None:
        raise RuntimeError(f"the remark {text!r} did not reach WeChat in {timeout} s")
    return arrived - started


def run(edits: int, poll_edits: int) -> dict[str, dict[str, float]]:
    directory = Path(tempfile.mkdtemp(prefix="bench-way-back-"))
    redis_url = redis_url_from_env()
    connect(redis_url).flushdb()
    box = start_sandbox(directory, followers=60, seed=11)
    (directory / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    port = free_port()
    env = {**box.env, "REDIS_URL": redis_url, "MAPPING_FILE": str(directory / "mapping.yaml"),
           "PORT": str(port), "LOG_LEVEL": "WARNING", "POLL_INTERVAL_SECONDS": "5",
           "POLL_LOOKBACK_SECONDS": "60"}
    sf, people = box.salesforce, box.population
    arrivals = Arrivals(people)
    followers = people.openids(subscribed=True)[:40]
    leads = {o: sf.seed("Lead", LastName=f"Bench {i}", Company="Bench",
                        WeChat_OpenId__c=o) for i, o in enumerate(followers)}
    children = []
    try:
        web_url = f"http://127.0.0.1:{port}"
        children.append(_spawn("web", env))
        _wait_web(web_url, children[0])
        children.append(_spawn("worker", env))
        sf.outbound.add_rule("Lead", ["Description"], f"{web_url}/salesforce/outbound/"
                                                      f"{env['SALESFORCE_OUTBOUND_SECRET']}")
        rng = random.Random(5)  # noqa: S311 - picking followers, not cryptography

        def one(i: int, timeout: float) -> float:
            openid = rng.choice(followers)
            return _edit_and_wait(sf, arrivals, leads[openid], openid, f"Bench {i}", timeout)

        os.environ.update(box.env)  # the baseline's gateway, in this process
        gateway = WeChatGateway(load_settings(), connect(redis_url))
        direct = []
        for i in range(edits):
            openid = rng.choice(followers)
            started = time.perf_counter()
            gateway.update_remark(openid, f"Direct {i}")
            direct.append(time.perf_counter() - started)

        for i in range(5):  # warm-up: the worker logs in, fetches a token, caches profiles
            one(-1 - i, 30)
        outbound = [one(i, 10) for i in range(edits)]
        sf.outbound.clear()

        children.append(_spawn("clock", env))
        _wait_first_poll(connect(redis_url))  # it reads the window before it: not measured
        polled = []
        for i in range(poll_edits):
            time.sleep(rng.uniform(0, 5))  # edits land anywhere in the poll's interval
            polled.append(one(10_000 + i, 30))
    finally:
        stop_children(children)
        box.stop()
    return {"outbound": _stats(outbound), "direct": _stats(direct), "poll": _stats(polled)}


def report(r: dict[str, dict[str, float]]) -> None:
    print("Way back latency: admin edit of a Lead -> WeChat updateremark call received "
          "(web, worker and clock as subprocesses; the sandboxes in this process)")
    names = {"outbound": "Outbound Message", "direct": "baseline: WeChat call alone",
             "poll": "baseline: poll path, 5 s interval"}
    for key in ("outbound", "direct", "poll"):
        s = r[key]
        print(f"  {names[key]:<34} n={s['n']:<4.0f} p50 {s['p50']:7.1f} ms  "
              f"p95 {s['p95']:7.1f} ms  max {s['max']:7.1f} ms")
    print(f"  Outbound Message p95 vs the 1500 ms target: {r['outbound']['p95'] / 1500:.2f}; "
          f"vs the WeChat call alone: {r['outbound']['p95'] / r['direct']['p95']:.1f}x; "
          f"vs the poll path: {r['poll']['p95'] / r['outbound']['p95']:.0f}x faster")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--poll-edits", type=int, default=6)
    args = parser.parse_args()
    report(run(args.edits, args.poll_edits))
