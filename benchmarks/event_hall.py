"""The event hall: a burst of scans at 300 per second, drained by two workers.

10,000 signed, encrypted scans by 7,000 people into 3 campaigns (each person scans once,
then 3,000 scans again, a campaign of theirs or another) arrive at 300 per second from a
load generator in a process of its own (``python -m benchmarks.loadgen``: open loop,
each push resent up to three times unless answered 200 within 5 s, as WeChat does). The
bridge runs as production does: ``connector web`` and two ``connector worker``
processes, on the Redis of ``REDIS_URL``; the Salesforce emulator (in this process, with
the WeChat emulator) adds 150 ms to every call.

Printed: pushes sent and acknowledged; Leads, members and follower records landed, with
duplicates and missing ones against what was sent, and jobs failed (exactly once: one
Lead per person, one member per person and campaign scanned, none failed); Salesforce
calls per event; drain time after the first push and after the last; worker peak RSS
(each worker process with its children, the work horse and rq's scheduler, summed,
sampled from /proc every 0.1 s; PSS beside it, which counts the pages a fork shares
once). Then the same for the naive design (``benchmarks/naive_hall.py``: one forked job
per event, no batching, 3-4 calls each) on the same emulators, in the same run, with new
people: on ``--naive-events`` of the hall's scans (at 4 calls of 150 ms each, two workers
take about 5 minutes per 1,000 events), its drain time for the whole hall projected from
its measured rate; and the ratios.

    python -m benchmarks.event_hall [--events 10000 --followers 7000 --campaigns 3
        --rate 300 --workers 2 --latency-ms 150 --naive-events 300] [--short]

``--short``: 1,000 scans by 700 people (naive: 100). Exit 1 when the bridge lost,
duplicated or failed anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from benchmarks.chaos import failed_jobs
from benchmarks.loadgen import build_request, write_requests
from benchmarks.memory import MemorySampler
from connector.redis_connection import connect, redis_url_from_env
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import free_port
from sandbox.wechat import CallbackSender


@dataclass(frozen=True)
class Hall:
    events: int = 10_000
    followers: int = 7_000
    campaigns: int = 3
    rate: float = 300.0
    workers: int = 2
    latency_ms: int = 150
    naive_events: int = 300
    seed: int = 12


SHORT = Hall(events=1_000, followers=700, naive_events=100)


def hall_scans(people: list[str], campaigns: list[str], events: int,
               rng: random.Random) -> list[tuple[str, str]]:
    """(openid, campaign) of each scan: everyone once, in a random order, then the rest
    by people drawn at random, half of them at a campaign they scanned already."""
    first = [(p, rng.choice(campaigns)) for p in people]
    rng.shuffle(first)
    scans = first[:events]
    mine = {p: c for p, c in first}
    while len(scans) < events:
        person = rng.choice(people)
        again = rng.random() < 0.5
        scans.append((person, mine[person] if again else rng.choice(campaigns)))
    return scans


# -- the processes ---------------------------------------------------------------------------


@dataclass
class Design:
    """How to run one design: its processes, and how busy its queues are."""

    name: str
    web: list[str]
    worker: list[str]
    busy: Callable[[str], int | None]
    failed: Callable[[str], int]


def _bridge_busy(redis_url: str) -> int | None:
    from benchmarks.chaos import busy

    return busy(redis_url)


def _naive_busy(redis_url: str) -> int | None:
    from rq import Queue

    from benchmarks.naive_hall import QUEUE

    queue = Queue(QUEUE, connection=connect(redis_url))
    return queue.count + queue.started_job_registry.count


def _naive_failed(redis_url: str) -> int:
    from rq import Queue

    from benchmarks.naive_hall import QUEUE

    return Queue(QUEUE, connection=connect(redis_url)).failed_job_registry.count


BRIDGE = Design("bridge", ["-m", "connector.cli", "web"], ["-m", "connector.cli", "worker"],
                _bridge_busy, lambda url: sum(failed_jobs(url).values()))
NAIVE = Design("naive", ["-m", "benchmarks.naive_hall", "web"],
               ["-m", "benchmarks.naive_hall", "worker"], _naive_busy, _naive_failed)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, stdout=out,
                            stderr=subprocess.STDOUT)


def _wait_for_web(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.post(f"http://127.0.0.1:{port}/wechat/callback", timeout=1)
            return
        time.sleep(0.2)
    raise RuntimeError(f"the web process did not answer on port {port}")


def _wait_for_workers(redis_url: str, count: int, timeout: float = 60) -> None:
    from rq import Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=connect(redis_url))) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} workers did not start")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- one run -----------------------------------------------------------------------------------


def landed(box: RunningSandbox, scans: list[tuple[str, str]]) -> dict[str, int]:
    """What the emulator holds for the people of ``scans``: Leads and members, with
    duplicates and the members missing (a person and campaign scanned, no member)."""
    people = {o for o, _ in scans}
    sf = box.salesforce
    leads = Counter()
    person_of: dict[str, str] = {}
    for record in sf.records("Lead"):
        openid = record.get("WeChat_OpenId__c")
        if openid in people:
            leads[openid] += 1
            person_of.setdefault(openid, record["Id"])
    persons = set(person_of.values())
    members = Counter((r.get("LeadId"), r["CampaignId"][:15])
                      for r in sf.records("CampaignMember") if r.get("LeadId") in persons)
    wanted = {(person_of.get(o), c[:15]) for o, c in scans}
    followers = Counter(r.get("OpenId__c") for r in sf.records("WeChat_Follower__c")
                        if r.get("OpenId__c") in people)
    return {
        "people": len(people), "leads": len(leads),
        "duplicate_leads": sum(n - 1 for n in leads.values()),
        "members_expected": len(wanted), "members": len(members),
        "duplicate_members": sum(n - 1 for n in members.values()),
        "members_missing": len([w for w in wanted if members[w] == 0]),
        "follower_records": len(followers),
        "duplicate_followers": sum(n - 1 for n in followers.values()),
    }


def run_design(design: Design, hall: Hall, box: RunningSandbox, redis_url: str,
               scans: list[tuple[str, str]], workdir: Path,
               say: Callable[[str], None]) -> dict:
    connect(redis_url).flushdb()
    port = free_port("127.0.0.1")
    env = {**box.env, "REDIS_URL": redis_url, "PORT": str(port), "LOG_LEVEL": "WARNING"}
    processes = [_spawn(design.web, env, workdir / f"{design.name}-web.log")]
    workers = [_spawn(design.worker, env, workdir / f"{design.name}-worker{i + 1}.log")
               for i in range(hall.workers)]
    processes += workers
    try:
        _wait_for_web(port)
        _wait_for_workers(redis_url, hall.workers)
        url = f"http://127.0.0.1:{port}/wechat/callback"
        env_box = box.env
        sender = CallbackSender(url, token=env_box["WECHAT_TOKEN"],
                                app_id=env_box["WECHAT_APP_ID"],
                                original_id=env_box["WECHAT_ORIGINAL_ID"],
                                encoding_aes_key=env_box["WECHAT_ENCODING_AES_KEY"],
                                mode="safe")
        # Each push carries the second it is due to arrive, as WeChat's would.
        start = int(time.time()) + 5 + len(scans) // 2000
        raw = []
        for i, (openid, campaign) in enumerate(scans):
            at = start + int(i / hall.rate)
            push = box.wechat.scan(openid, f"sfc_{campaign}", at=at)
            prepared = sender.prepare(push, timestamp=str(at))
            raw.append(build_request(url, prepared.query, prepared.body.encode()))
        sender.close()
        requests_file = workdir / f"{design.name}-pushes.json"
        write_requests(requests_file, raw)
        delay = start - time.time()
        if delay > 0:
            time.sleep(delay)
        box.salesforce.reset_counters()
        sampler = MemorySampler([w.pid for w in workers])
        sampler.start()
        say(f"  {design.name}: {len(scans):,} pushes at {hall.rate:g}/s ...")
        loadgen = subprocess.run(
            [sys.executable, "-m", "benchmarks.loadgen", url, str(requests_file),
             "--rate", str(hall.rate)], capture_output=True, text=True, check=False)
        if loadgen.returncode:
            raise RuntimeError(f"the load generator failed: {loadgen.stderr[-2000:]}")
        sent = json.loads(loadgen.stdout)
        drained = _wait_drained(design, redis_url)
        peaks = sampler.finish()
        calls = box.salesforce.api_calls["total"]
        dead = [p.args[-1] for p in processes if p.poll() is not None]
    finally:
        _stop(processes)
    latencies = sorted(sent["latencies"])
    return {
        "design": design.name, "events": len(scans), "pushes": sent["pushes"],
        "acknowledged": sent["acknowledged"], "attempts": sent["attempts"],
        "ack_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0,
        "sending_seconds": sent["last_sent"] - sent["first_sent"],
        "drain_after_first": drained - sent["first_sent"],
        "drain_after_last": drained - sent["last_sent"],
        "sf_calls": calls, "calls_per_event": calls / len(scans),
        "peak_rss_mb": peaks.rss / 1024, "peak_pss_mb": peaks.pss / 1024,
        "peak_total_rss_mb": peaks.total_rss / 1024,
        "processes": peaks.by_kind(),
        "failed": design.failed(redis_url), "dead": dead, **landed(box, scans),
    }


def _wait_drained(design: Design, redis_url: str, settle: float = 1.0,
                  timeout: float = 3600) -> float:
    """The time (epoch) the queues were first empty, after which they stayed empty for
    ``settle`` seconds."""
    started = time.monotonic()
    empty_since = None
    while time.monotonic() - started < timeout:
        if design.busy(redis_url) == 0:
            empty_since = empty_since or time.time()
            if time.time() - empty_since >= settle:
                return empty_since
        else:
            empty_since = None
        time.sleep(0.1)
    raise RuntimeError(f"{design.name}: not drained within {timeout:.0f} s")


def run(hall: Hall, say: Callable[[str], None] = print) -> dict:
    redis_url = redis_url_from_env()
    workdir = Path(tempfile.mkdtemp(prefix="bench-event-hall-"))
    naive_people = round(hall.naive_events * hall.followers / hall.events)
    box = start_sandbox(workdir / "box", followers=hall.followers + naive_people,
                        seed=hall.seed)
    try:
        rng = random.Random(hall.seed)  # noqa: S311 - a repeatable hall, not a secret
        sf = box.salesforce
        campaigns = [sf.seed("Campaign", Name=f"Event hall {i + 1}", IsActive=True)
                     for i in range(hall.campaigns)]
        people = box.population.openids(subscribed=None)
        if hall.latency_ms:
            sf.faults.add(latency_ms=hall.latency_ms)
        say(f"event hall: {hall.events:,} scans by {hall.followers:,} people into "
            f"{hall.campaigns} campaigns at {hall.rate:g}/s, {hall.workers} workers, "
            f"+{hall.latency_ms} ms per Salesforce call (logs in {workdir})")
        bridge = run_design(BRIDGE, hall, box, redis_url,
                            hall_scans(people[:hall.followers], campaigns, hall.events, rng),
                            workdir, say)
        naive = None
        if hall.naive_events:
            naive = run_design(NAIVE, hall, box, redis_url,
                               hall_scans(people[hall.followers:], campaigns,
                                          hall.naive_events, rng), workdir, say)
            naive["projected_drain"] = (naive["drain_after_first"] * hall.events
                                        / hall.naive_events)
        return {"hall": hall, "bridge": bridge, "naive": naive}
    finally:
        box.stop()
        connect(redis_url).flushdb()


def exactly_once(r: dict) -> bool:
    return (r["acknowledged"] == r["pushes"] and r["leads"] == r["people"]
            and not r["duplicate_leads"] and not r["duplicate_members"]
            and not r["members_missing"] and not r["failed"] and not r["dead"])


def _lines(r: dict) -> list[str]:
    return [
        f"pushes {r['pushes']:,} sent, {r['acknowledged']:,} acknowledged "
        f"({r['attempts']:,} deliveries; ack p99 {r['ack_p99_ms']:.0f} ms), sent over "
        f"{r['sending_seconds']:.1f} s",
        f"Leads {r['leads']:,} of {r['people']:,} people (duplicates {r['duplicate_leads']}),"
        f" members {r['members']:,} of {r['members_expected']:,} (duplicates "
        f"{r['duplicate_members']}, missing {r['members_missing']}), follower records "
        f"{r['follower_records']:,} (duplicates {r['duplicate_followers']}), jobs failed "
        f"{r['failed']}" + (f", processes died: {', '.join(r['dead'])}" if r["dead"] else ""),
        f"Salesforce calls {r['sf_calls']:,}: {r['calls_per_event']:.4f} per event",
        f"drained {r['drain_after_first']:.1f} s after the first push, "
        f"{r['drain_after_last']:.1f} s after the last",
        f"worker peak RSS {r['peak_rss_mb']:.0f} MB (worker + children; PSS "
        f"{r['peak_pss_mb']:.0f} MB), both workers {r['peak_total_rss_mb']:.0f} MB",
        "alone: " + "; ".join(
            f"{seen} {'workers' if kind == 'parent' else 'children (horses, schedulers)'} "
            f"peak RSS {rss / 1024:.0f} MB, PSS {pss / 1024:.0f} MB"
            for kind, (seen, rss, pss) in sorted(r["processes"].items(), reverse=True)),
    ]


def report(result: dict) -> None:
    hall, bridge, naive = result["hall"], result["bridge"], result["naive"]
    print(f"event hall: {hall.events:,} scans, {hall.followers:,} people, {hall.campaigns} "
          f"campaigns, {hall.rate:g}/s, {hall.workers} workers, +{hall.latency_ms} ms per "
          "Salesforce call")
    print("  bridge" + ("" if exactly_once(bridge) else "  (NOT EXACTLY ONCE)"))
    for line in _lines(bridge):
        print(f"    {line}")
    print("    targets: drained <= 60 s after the first push, <= 0.02 calls per event, "
          "worker RSS <= 200 MB")
    if naive is None or not naive["calls_per_event"]:
        return
    print(f"  naive design (one forked job per event, no batching), the first "
          f"{naive['events']:,} scans of a hall like it")
    for line in _lines(naive):
        print(f"    {line}")
    print(f"    projected for {hall.events:,} scans at its rate: drained "
          f"{naive['projected_drain']:.0f} s after the first push")
    calls = bridge["calls_per_event"] / naive["calls_per_event"]
    print(f"  ratio bridge/naive: calls per event {calls:.4f} ({1 / calls:.0f}x fewer), drain "
          f"{bridge['drain_after_first'] / naive['projected_drain']:.3f} (projected), worker "
          f"RSS {bridge['peak_rss_mb'] / max(naive['peak_rss_mb'], 1):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_hall",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="1,000 scans (naive: 100)")
    for name, value in vars(Hall()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=None)
    args = parser.parse_args(argv)
    hall = SHORT if args.short else Hall()
    hall = replace(hall, **{k: v for k, v in vars(args).items()
                            if k != "short" and v is not None})
    result = run(hall, lambda text: print(text, flush=True))
    report(result)
    return 0 if exactly_once(result["bridge"]) else 1


if __name__ == "__main__":
    sys.exit(main())
