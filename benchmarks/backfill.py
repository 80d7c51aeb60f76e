"""``connector backfill`` of N followers with +150 ms on every Salesforce call.

The emulators run in this process with WeChat's own page sizes (10,000 OpenIDs per
``user/get`` page); the backfill runs as the real command in a child process, so its
peak RSS is its own. Figures: wall time, Salesforce calls per follower, WeChat calls,
the child's peak RSS; with ``--kill-at-half``, the first run is killed (SIGKILL) once
half the followers are written and a second run finishes: the final counts must match
(one Lead and one follower record per follower, no duplicates).

The command's peak RSS is its own ``VmHWM`` (:mod:`benchmarks.memory`, sampled every
0.1 s; with ``--kill-at-half``, of the killed run and of the one that finished), with its
peak PSS beside it;
not ``getrusage(RUSAGE_CHILDREN)``, which counts the benchmark's own size (the
emulators) into a child spawned from it. The benchmark's own peak is printed apart.

    python -m benchmarks.backfill [--followers 100000] [--latency-ms 150] [--kill-at-half]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.memory import MemorySampler
from connector.redis_connection import connect, redis_url_from_env
from sandbox.run import start_sandbox
from sandbox.wechat.routes_users import PAGE


def _command(env: dict[str, str], samplers: list[MemorySampler],
             *args: str) -> subprocess.Popen:
    """The backfill command started, with a sampler of its memory (in ``samplers``)."""
    child = subprocess.Popen([sys.executable, "-m", "connector.cli", "--log-level", "WARNING",
                              "backfill", *args], env=env, stdout=subprocess.PIPE,
                             stderr=None if os.environ.get("BENCH_VERBOSE")
                             else subprocess.DEVNULL, text=True)
    sampler = MemorySampler([child.pid])
    sampler.start()
    samplers.append(sampler)
    return child


def _read(redis, account: str) -> int:
    value = redis.hget(f"bridge:backfill:{account}:state", "read")
    return int(value or 0)


def run(followers: int, latency_ms: int, kill_at_half: bool) -> dict:
    redis_url = redis_url_from_env()
    redis = connect(redis_url)
    redis.flushdb()
    started_box = time.perf_counter()
    box = start_sandbox(Path(tempfile.mkdtemp(prefix="bench-backfill-")),
                        followers=followers, list_page=PAGE)
    generate_seconds = time.perf_counter() - started_box
    sf = box.salesforce
    # The generated followers came through codes of campaigns this org lacks: point
    # their scenes at two real campaigns, so members are written as for a real account.
    campaigns = [sf.seed("Campaign", Name=f"Poster {i}", IsActive=True) for i in range(2)]
    for i, record in enumerate(box.population.followers()):
        if record.qr_scene_str:
            box.population.follow(record.openid, f"sfc_{campaigns[i % 2]}",
                                  at=record.subscribe_time)
    subscribed = len(box.population.openids(subscribed=True))
    env = {**os.environ, **box.env, "REDIS_URL": redis_url}
    account = box.env["WECHAT_ORIGINAL_ID"]
    if latency_ms:
        sf.faults.add(latency_ms=latency_ms)
    sf.reset_counters()
    killed_at = None
    samplers: list[MemorySampler] = []
    started = time.perf_counter()
    try:
        if kill_at_half:
            child = _command(env, samplers)
            while child.poll() is None and _read(redis, account) < subscribed // 2:
                time.sleep(0.2)
            killed_at = _read(redis, account)
            child.send_signal(signal.SIGKILL)
            child.wait()
        for _ in range(20):  # a killed run's lock frees itself within 30 s
            child = _command(env, samplers)
            out, _ = child.communicate()
            if child.returncode != 2:
                break
            samplers.pop().finish()  # refused: the killed run's lock was still held
            time.sleep(5)
        seconds = time.perf_counter() - started
        if child.returncode:
            raise RuntimeError(f"connector backfill exited {child.returncode}")
        peaks = [sampler.finish() for sampler in samplers]
        openids = Counter(r["OpenId__c"] for r in sf.records("WeChat_Follower__c"))
        leads = Counter(r.get("WeChat_OpenId__c") for r in sf.records("Lead"))
        return {
            "followers": subscribed, "seconds": seconds, "killed_at": killed_at,
            "sf_calls": sf.api_calls["total"],
            "rss_mb": max(p.high_water for p in peaks) / 1024,
            "pss_mb": max(p.pss for p in peaks) / 1024,
            "rss_runs_mb": [round(p.high_water / 1024) for p in peaks if p.high_water],
            "bench_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "wechat_calls": int(redis.hget(f"bridge:backfill:{account}:state",
                                           "calls_wechat") or 0),
            "follower_records": len(openids), "leads": len(leads),
            "duplicates": sum(n - 1 for n in openids.values() if n > 1)
            + sum(n - 1 for n in leads.values() if n > 1),
            "members": len(sf.records("CampaignMember")),
            "generate_seconds": generate_seconds, "report": out,
            "by_kind": {k: v for k, v in sf.api_calls.items() if k != "total"},
        }
    finally:
        for sampler in samplers:
            sampler.finish()
        box.stop()


def report(r: dict, latency_ms: int) -> None:
    print(f"backfill of {r['followers']:,} followers, +{latency_ms} ms per Salesforce call"
          + (f", killed at {r['killed_at']:,} and resumed" if r["killed_at"] is not None
             else ""))
    print(f"  time {r['seconds']:.1f} s  ({r['followers'] / r['seconds']:,.0f} followers/s)")
    print(f"  Salesforce calls {r['sf_calls']:,}  ({r['sf_calls'] / r['followers']:.4f} per "
          f"follower; target <= 0.02)")
    print(f"  WeChat calls {r['wechat_calls']:,} (from the backfill's state)")
    print(f"  peak RSS of the command {r['rss_mb']:.0f} MB (target <= 300; VmHWM, of each run "
          f"{r['rss_runs_mb']} MB; peak PSS {r['pss_mb']:.0f} MB); the benchmark's own "
          f"process, with the emulators, {r['bench_rss_mb']:.0f} MB")
    print(f"  follower records {r['follower_records']:,}  Leads {r['leads']:,}  members "
          f"{r['members']:,}  duplicates {r['duplicates']}")
    print(f"  Salesforce calls by kind: {r['by_kind']}")
    print(f"  (the emulator generated the population in {r['generate_seconds']:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--kill-at-half", action="store_true")
    args = parser.parse_args()
    report(run(args.followers, args.latency_ms, args.kill_at_half), args.latency_ms)
