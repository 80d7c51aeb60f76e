"""Callback acknowledgement latency at a steady rate, safe mode on.

Starts the real web app (``connector web``, one uvicorn process, as a Heroku dyno runs
it) and, as the baseline in the same run, the same server stack answering "success"
without verifying, decrypting or enqueueing. Both get the same open-loop load of
distinct signed, encrypted subscribe pushes; the report gives p50/p95/p99 and the
bridge/baseline ratio.

    python -m benchmarks.callback_ack [--rate 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import subprocess
import sys
import time

import httpx

from benchmarks.loadgen import build_request, run_load
from connector.cli.processes import stop_children
from connector.redis_connection import connect, redis_url_from_env
from sandbox.server import free_port
from sandbox.wechat import CallbackSender
from sandbox.wechat.pushes import subscribe


def _env() -> dict[str, str]:
    return {
        "SALESFORCE_CLIENT_ID": "bench", "SALESFORCE_CLIENT_SECRET": "bench",
        "WECHAT_APP_ID": "wx" + secrets.token_hex(8), "WECHAT_APP_SECRET": "bench",
        "WECHAT_TOKEN": secrets.token_hex(16),
        "WECHAT_ENCODING_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode()[:43],
        "WECHAT_ORIGINAL_ID": "gh_" + secrets.token_hex(6), "LOG_LEVEL": "WARNING",
    }


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    """Start a server and wait until it answers (any status) on the callback path."""
    child = subprocess.Popen([sys.executable, *args], env={**os.environ, **env,
                                                          "PORT": str(port)})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/wechat/callback", timeout=1)
            return child
        except httpx.TransportError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError(f"server {args} did not start")


def _stats(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": ms[-1]}


def run(rate: float, seconds: float) -> dict[str, dict[str, float]]:
    env = {**_env(), "REDIS_URL": redis_url_from_env()}
    connect(env["REDIS_URL"]).flushdb()
    sender = CallbackSender("http://unused", token=env["WECHAT_TOKEN"],
                            app_id=env["WECHAT_APP_ID"], original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"])
    count = int(rate * seconds)
    now = int(time.time())
    warm = [sender.prepare(subscribe(f"oWARM{i:023d}", now, scene="sfc_x", ticket="T"))
            for i in range(200)]
    pushes = [sender.prepare(subscribe(f"oBENCH{i:022d}", now, scene="sfc_x", ticket="T"))
              for i in range(count)]
    results = {}
    for name, args in [("baseline", ["-m", "uvicorn", "benchmarks.baseline_app:app",
                                     "--port", "{port}", "--log-level", "warning"]),
                       ("bridge", ["-m", "connector.cli", "web"])]:
        port = free_port()
        child = _start([a.format(port=port) for a in args], env, port)
        try:
            url = f"http://127.0.0.1:{port}/wechat/callback"
            asyncio.run(run_load(url, [build_request(url, p.query, p.body.encode())
                                       for p in warm], rate))
            raw = [build_request(url, p.query, p.body.encode()) for p in pushes]
            results[name] = _stats(asyncio.run(run_load(url, raw, rate)))
        finally:
            stop_children([child])
    queued = connect(env["REDIS_URL"]).llen("rq:queue:inbound")
    results["bridge"]["jobs"] = queued
    return results


def report(results: dict, rate: float, seconds: float) -> None:
    print(f"Callback acknowledgement, {rate:.0f} pushes/s for {seconds:.0f} s, safe mode "
          f"(one uvicorn process; the load generator shares the 2 cores)")
    for name in ("baseline", "bridge"):
        r = results[name]
        print(f"  {name:<9} p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  "
              f"p99 {r['p99']:6.2f} ms  max {r['max']:7.2f} ms")
    print(f"  bridge jobs enqueued: {results['bridge']['jobs']:.0f}")
    ratio = results["bridge"]["p99"] / results["baseline"]["p99"]
    print(f"  ratio bridge/baseline p99: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    report(run(args.rate, args.seconds), args.rate, args.seconds)
