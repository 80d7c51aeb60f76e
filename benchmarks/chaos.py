"""``make chaos``: a burst of scans while everything around the bridge breaks.

The bridge runs as it does in production, as separate processes (web, two workers, the
clock) on a Redis server of its own with an append-only file; the emulators and the load
generator run here. While the scans arrive (each push delivered as WeChat does: resent
when not answered in time, three times), the run injects, on a timeline:

- work horses SIGKILLed every few seconds, and one worker process SIGKILLed, then started
  again (as Heroku restarts a crashed dyno);
- Redis SIGKILLed and started again on its append-only file;
- the Salesforce emulator answering a share of the calls with 503 and UNABLE_TO_LOCK_ROW;
- Salesforce sessions and WeChat access tokens expiring;
- the org's daily API requests spent for a while.

Then the faults stop, and the run waits, with no replay and no operator action, until the
bridge has finished by itself. It prints: pushes acknowledged, events lost (a scan WeChat
was told "success" for whose member is missing), duplicate Leads, duplicate members, jobs
failed, time to recover, and whether every bridge process still runs. Exit 0 only when
nothing was lost or duplicated, no job failed and every process runs.

``python -m benchmarks.chaos --short`` is the CI version (a few hundred scans).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from connector.redis_connection import connect, server_executable
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import free_port
from sandbox.wechat import CallbackSender

SENDERS = 24  # concurrent deliveries, as WeChat's many push servers


@dataclass(frozen=True)
class Plan:
    """The size of the run and its fault timeline (seconds from the first push)."""

    scans: int = 3000
    followers: int = 2000
    campaigns: int = 3
    rate: float = 100.0  # pushes per second
    workers: int = 2
    horse_kill_every: float = 3.0
    worker_kill_at: float = 8.0
    worker_down: float = 3.0
    redis_kill_at: float = 14.0
    redis_down: float = 2.0
    expire_at: tuple[float, ...] = (5.0, 19.0)
    limit_spent_at: float = 22.0
    limit_spent_for: float = 6.0
    salesforce_fault_rate: float = 0.2  # half 503, half UNABLE_TO_LOCK_ROW
    recover_timeout: float = 600.0


SHORT = Plan(scans=300, followers=200, rate=50.0, horse_kill_every=1.5, worker_kill_at=2.0,
             worker_down=1.5, redis_kill_at=3.5, redis_down=1.5, expire_at=(1.0, 4.5),
             limit_spent_at=4.0, limit_spent_for=3.0, recover_timeout=300.0)


# -- Redis on an append-only file, killable ----------------------------------------------


class RedisServer:
    """A Redis of the run's own: ``appendfsync always``, so a SIGKILL loses no write that
    was acknowledged (what a managed Redis with AOF persistence gives)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port("127.0.0.1")
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [server_executable(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if connect(self.url).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("Redis did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# -- the bridge's processes ----------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (a worker's work horses), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


@dataclass
class Bridge:
    """web, workers and clock as ``connector <role>`` processes; logs in ``workdir``."""

    env: dict[str, str]
    workdir: Path
    workers: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, role: str, name: str | None = None) -> None:
        name = name or role
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", role], env={**os.environ, **self.env},
            stdout=log, stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        self.start("web")
        for i in range(self.workers):
            self.start("worker", f"worker{i + 1}")
        self.start("clock")

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait()

    def kill_a_horse(self, rng: random.Random) -> bool:
        horses = [h for n, p in self.processes.items() if n.startswith("worker")
                  for h in children_of(p.pid)]
        if not horses:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(rng.choice(horses), signal.SIGKILL)
        return True

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


# -- the run -------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Faults fired from a thread, each logged with its time."""

    started: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    horses_killed: int = 0

    def note(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f}s  {text}")


def _control(box: RunningSandbox, system: str, method: str, path: str,
             json: dict | None = None) -> int:
    base = box.salesforce_url if system == "salesforce" else box.wechat_url
    with httpx.Client(verify=box.env["REQUESTS_CA_BUNDLE"], timeout=10) as client:
        return client.request(method, base + path, json=json).status_code


def run_faults(plan: Plan, box: RunningSandbox, bridge: Bridge, redis: RedisServer,
               timeline: Timeline, burst_over: threading.Event, rng: random.Random) -> None:
    """The fault timeline; returns when the burst is over and every fault has ended."""
    steps: list[tuple[float, str, Callable[[], None]]] = []

    def at(when: float, what: str, act: Callable[[], None]) -> None:
        steps.append((when, what, act))

    at(plan.worker_kill_at, "SIGKILL worker2", lambda: bridge.kill("worker2"))
    at(plan.worker_kill_at + plan.worker_down, "worker2 started again",
       lambda: bridge.start("worker", "worker2"))
    at(plan.redis_kill_at, "SIGKILL Redis", redis.kill)
    at(plan.redis_kill_at + plan.redis_down, "Redis started again (append-only file)",
       redis.start)
    for when in plan.expire_at:
        at(when, "Salesforce sessions and WeChat tokens expired", lambda: (
            _control(box, "salesforce", "POST", "/__sandbox__/expire-sessions"),
            _control(box, "wechat", "POST", "/__sandbox__/wechat/expire-tokens")))
    at(plan.limit_spent_at, f"daily API limit spent for {plan.limit_spent_for:g}s",
       lambda: spend_limit(box, timeline, plan.limit_spent_for))
    steps.sort(key=lambda s: s[0])
    next_horse = plan.horse_kill_every
    while steps or not burst_over.is_set():
        now = time.monotonic() - timeline.started
        while steps and steps[0][0] <= now:
            _, what, act = steps.pop(0)
            try:
                act()
                timeline.note(what)
            except Exception as exc:  # noqa: BLE001 - a fault that cannot fire is reported
                timeline.note(f"{what}: could not ({type(exc).__name__}: {exc})")
        if now >= next_horse and not burst_over.is_set():
            if bridge.kill_a_horse(rng):
                timeline.horses_killed += 1
            next_horse += plan.horse_kill_every
        time.sleep(0.05)


def spend_limit(box: RunningSandbox, timeline: Timeline, seconds: float) -> None:
    """The org's daily API requests used up for ``seconds``, where the emulator can."""
    status = _control(box, "salesforce", "POST", "/__sandbox__/api-usage",
                      {"calls": None, "seconds": seconds})
    if status >= 300:
        raise RuntimeError(f"the emulator cannot spend its limit (HTTP {status})")


def salesforce_faults(box: RunningSandbox, rate: float, seconds: float) -> None:
    """A share of the calls answered 503, as many with UNABLE_TO_LOCK_ROW (writes)."""
    for fault in ({"endpoint": "/services/data/", "status": 503, "code": "SERVER_UNAVAILABLE",
                   "rate": rate / 2, "duration": seconds},
                  {"endpoint": "(POST|PATCH) /services/data/", "status": 400,
                   "code": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive "
                   "access to this record or 1 records", "rate": rate / 2,
                   "duration": seconds}):
        _control(box, "salesforce", "POST", "/__sandbox__/faults", fault)


@dataclass
class Sent:
    scans: list[tuple[str, str]]  # (openid, CampaignId) of each acknowledged scan
    pushes: int
    acknowledged: int
    attempts: int


def send_burst(plan: Plan, box: RunningSandbox, callback: str, campaigns: list[str],
               rng: random.Random) -> Sent:
    """``plan.scans`` scans by ``plan.followers`` people at ``plan.rate`` per second,
    each delivered (and resent) as WeChat does."""
    people = box.population.openids(subscribed=None)[: plan.followers]
    env = box.env
    sender = CallbackSender(callback, token=env["WECHAT_TOKEN"], app_id=env["WECHAT_APP_ID"],
                            original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe",
                            timeout=5.0)
    acked: list[tuple[str, str]] = []
    counts = Counter()
    lock = threading.Lock()

    def one(openid: str, campaign: str) -> None:
        push = box.wechat.scan(openid, f"sfc_{campaign}")
        delivery = sender.deliver(push)
        with lock:
            counts["pushes"] += 1
            counts["attempts"] += delivery.attempts
            if delivery.acknowledged:
                counts["acknowledged"] += 1
                acked.append((openid, campaign))

    start = time.monotonic()
    with sender, ThreadPoolExecutor(SENDERS) as pool:
        for i in range(plan.scans):
            delay = start + i / plan.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, rng.choice(people), rng.choice(campaigns))
    return Sent(acked, counts["pushes"], counts["acknowledged"], counts["attempts"])


def busy(redis_url: str) -> int | None:
    """Jobs queued, running, waiting for a retry, or taken into a batch (a batch whose
    owner died with Redis away gives them back only when its lease lapses and a sweep
    finds them) on every queue; None: Redis is away."""
    from jobs.status import collect_status

    try:
        status = collect_status(connect(redis_url))
    except Exception:  # noqa: BLE001 - Redis restarting: ask again
        return None
    total = (status["queued"] + status["running"] + status["scheduled"]
             + status["in_batches"])
    return total + sum(q["queued"] + q["running"] + q["scheduled"]
                       for q in status["queues"].values())


def failed_jobs(redis_url: str) -> dict[str, int]:
    from jobs.status import collect_status

    status = collect_status(connect(redis_url))
    return {"inbound": status["failed_count"],
            **{name: q["failed_count"] for name, q in status["queues"].items()}}


def wait_until_done(redis_url: str, timeout: float, settle: float = 5.0) -> float | None:
    """Seconds until no job is queued, running or scheduled for ``settle`` seconds in a
    row (None: not within ``timeout``)."""
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout:
        if busy(redis_url) == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return quiet_since - started
        else:
            quiet_since = None
        time.sleep(0.5)
    return None


def outcome(box: RunningSandbox, sent: Sent) -> dict[str, int]:
    """Lost and duplicated, read from the emulator's own records."""
    leads = Counter(r.get("WeChat_OpenId__c") for r in box.salesforce.records("Lead")
                    if r.get("WeChat_OpenId__c"))
    person_of = {r["WeChat_OpenId__c"]: r["Id"] for r in box.salesforce.records("Lead")
                 if r.get("WeChat_OpenId__c")}
    person_of.update({r["WeChat_OpenId__c"]: r["Id"]
                      for r in box.salesforce.records("Contact") if r.get("WeChat_OpenId__c")})
    members = Counter((r.get("LeadId") or r.get("ContactId"), r["CampaignId"][:15])
                      for r in box.salesforce.records("CampaignMember"))
    lost = {(o, c) for o, c in sent.scans
            if members[(person_of.get(o), c[:15])] == 0}
    followers = Counter(r.get("OpenId__c") for r in box.salesforce.records("WeChat_Follower__c"))
    return {
        "events lost": len(lost),
        "duplicate Leads": sum(n - 1 for n in leads.values() if n > 1),
        "duplicate members": sum(n - 1 for n in members.values() if n > 1),
        "duplicate follower records": sum(n - 1 for n in followers.values() if n > 1),
    }


@contextlib.contextmanager
def environment(plan: Plan, workdir: Path) -> Iterator[tuple[RunningSandbox, RedisServer,
                                                              Bridge, list[str]]]:
    box = start_sandbox(workdir / "box", followers=plan.followers, seed=11)
    redis = RedisServer(workdir)
    redis.start()
    port = free_port("127.0.0.1")
    campaigns = [box.salesforce.seed("Campaign", Name=f"Chaos {i + 1}", IsActive=True)
                 for i in range(plan.campaigns)]
    env = {**box.env, "REDIS_URL": redis.url, "PORT": str(port), "LOG_LEVEL": "WARNING",
           "POLL_INTERVAL_SECONDS": "5"}
    bridge = Bridge(env, workdir, plan.workers)
    bridge.start_all()
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        yield box, redis, bridge, campaigns
    finally:
        bridge.stop()
        redis.stop()
        box.stop()


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the web process did not answer at {url}")


def run(plan: Plan, say: Callable[[str], None] = print) -> int:
    """The run; 0 when nothing was lost, duplicated or failed and every process runs."""
    workdir = Path(tempfile.mkdtemp(prefix="bridge-chaos-"))
    rng = random.Random(7)  # noqa: S311 - a repeatable fault schedule, not a secret
    with environment(plan, workdir) as (box, redis, bridge, campaigns):
        port = bridge.env["PORT"]
        say(f"chaos: {plan.scans} scans by {plan.followers} followers into "
            f"{plan.campaigns} campaigns at {plan.rate:g}/s, {plan.workers} workers; "
            f"logs in {workdir}")
        burst_seconds = plan.scans / plan.rate
        fault_seconds = max(burst_seconds, plan.limit_spent_at + plan.limit_spent_for,
                            plan.redis_kill_at + plan.redis_down)
        salesforce_faults(box, plan.salesforce_fault_rate, fault_seconds)
        timeline, burst_over = Timeline(), threading.Event()
        faults = threading.Thread(target=run_faults, args=(plan, box, bridge, redis,
                                                           timeline, burst_over, rng))
        faults.start()
        sent = send_burst(plan, box, f"http://127.0.0.1:{port}/wechat/callback", campaigns,
                          rng)
        burst_over.set()
        faults.join()
        _control(box, "salesforce", "DELETE", "/__sandbox__/faults")
        for line in timeline.events:
            say(f"  {line}")
        say(f"  work horses SIGKILLed: {timeline.horses_killed}")
        say("faults stopped; waiting for the bridge to finish by itself (no replay) ...")
        recovered = wait_until_done(redis.url, plan.recover_timeout)
        figures = {
            "pushes": sent.pushes,
            "pushes acknowledged": sent.acknowledged,
            "deliveries (with WeChat's resends)": sent.attempts,
            **outcome(box, sent),
            **{f"jobs failed ({q})": n for q, n in failed_jobs(redis.url).items()},
        }
        dead = bridge.dead()
        for name, value in figures.items():
            say(f"  {name:<38} {value}")
        say(f"  {'time to recover (after faults stopped)':<38} "
            + (f"{recovered:.0f} s" if recovered is not None
               else f"not within {plan.recover_timeout:g} s"))
        say(f"  {'bridge processes running':<38} "
            + ("all" if not dead else "NOT " + ", ".join(dead)))
    bad = (figures["events lost"] or figures["duplicate Leads"] or figures["duplicate members"]
           or figures["duplicate follower records"]
           or any(n for k, n in figures.items() if k.startswith("jobs failed"))
           or dead or recovered is None)
    say("chaos: PASS" if not bad else f"chaos: FAIL (logs in {workdir})")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the CI version")
    args = parser.parse_args(argv)
    return run(SHORT if args.short else Plan(), lambda text: print(text, flush=True))


if __name__ == "__main__":
    sys.exit(main())
