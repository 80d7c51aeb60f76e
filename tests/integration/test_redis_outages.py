"""Redis goes away and comes back: the bridge's processes ride it out.

Each test runs its own ``redis-server`` (a real process on a free port, never the
machine's shared one) and stops it: killed (connections refused, as while a Redis
restarts) or frozen with SIGSTOP (connections accepted, never answered, as a Redis on a
host that has gone away). WeChat is played by the sandbox's sender, which waits 5
seconds for an answer, as WeChat does; a push the bridge did not answer in time shows
as a status of None.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from connector.settings import load_settings
from jobs.queues import changes_queue, inbound_queue
from sandbox.run import start_sandbox
from sandbox.server import free_port, serve
from sandbox.wechat import CallbackSender
from webhooks.app import create_app

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="needs redis-server on PATH")

WAIT = 60.0  # seconds any awaited state gets before the test gives up (never asserted)


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


class RedisProcess:
    """A redis-server of the test's own, on ``port``, that can be killed, frozen and
    started again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, "redis-server to start")

    def answers(self) -> bool:
        try:
            with Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1) as r:
                return bool(r.ping())
        except RedisError:
            return False

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.kill()


@pytest.fixture
def own_redis(tmp_path):
    server = RedisProcess(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def box(tmp_path):
    sandbox = start_sandbox(tmp_path / "sandbox", followers=30, seed=11)
    yield sandbox
    sandbox.stop()


def sender_for(box, url: str, *, resends: int) -> CallbackSender:
    env = box.env
    return CallbackSender(url, token=env["WECHAT_TOKEN"], app_id=env["WECHAT_APP_ID"],
                          original_id=env["WECHAT_ORIGINAL_ID"],
                          encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe",
                          timeout=5.0, resends=resends)


# --- the web process -------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["killed", "frozen"])
def test_pushes_during_an_outage_get_a_5xx_within_wechats_wait_and_their_resends_land(
        box, own_redis, monkeypatch, outage):
    own_redis.start()
    for key, value in {**box.env, "REDIS_URL": own_redis.url}.items():
        monkeypatch.setenv(key, value)
    web = serve(create_app(load_settings()))  # the web process's own Redis client
    once = sender_for(box, f"{web.url}/wechat/callback", resends=0)
    people = box.population.openids(subscribed=True)[:12]
    try:
        before = [once.prepare(box.wechat.scan(p, "before")) for p in people[:2]]
        assert [once.send(p).statuses for p in before] == [(200,), (200,)]

        own_redis.kill() if outage == "killed" else own_redis.freeze()
        during = [once.prepare(box.wechat.scan(p, "during")) for p in people[2:]]
        with ThreadPoolExecutor(len(during)) as pool:  # a burst, all at once
            answers = list(pool.map(once.send, during))
        # Every one answered (None would be WeChat's 5 s passing without an answer), 503.
        assert [a.statuses for a in answers] == [(503,)] * len(during)
        assert httpx.get(f"{web.url}/healthz", timeout=5).status_code == 503

        own_redis.thaw() if outage == "frozen" else own_redis.start()
        # WeChat resends the very same requests: now they are queued, once each (a
        # restarted Redis without persistence lost the two from before).
        resent = [once.send(p) for p in during]
        assert all(d.acknowledged for d in resent)
        queued = inbound_queue(Redis.from_url(own_redis.url)).count
        assert queued == len(during) + (2 if outage == "frozen" else 0)
        assert httpx.get(f"{web.url}/healthz", timeout=5).status_code == 200
    finally:
        once.close()
        web.stop()


# --- the worker, the clock and `connector run` -----------------------------------------------


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "connector.cli", *args],
                                env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)


def children_of(pid: int) -> dict[int, str]:
    """The child processes of ``pid``: pid → its command line."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        found[int(child)] = cmdline.decode()
    return found


def role_pid(pid: int, role: str) -> int | None:
    return next((c for c, cmd in children_of(pid).items()
                 if cmd.rstrip().endswith(f"connector.cli {role}")), None)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; its new parent reaps it


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode


def test_a_worker_started_while_redis_is_down_keeps_trying_then_works(
        box, own_redis, tmp_path, monkeypatch):
    log = tmp_path / "worker.log"
    env = {**box.env, "REDIS_URL": own_redis.url, "LOG_LEVEL": "INFO"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    worker = spawn(["worker"], env, log)
    try:
        wait_until(lambda: log.read_text().count("starting a new one") >= 2 or
                   worker.poll() is not None, "the worker to retry twice")
        assert worker.poll() is None, log.read_text()[-2000:]  # still there, trying

        own_redis.start()
        web = serve(create_app(load_settings()))
        wechat = sender_for(box, f"{web.url}/wechat/callback", resends=3)
        openid = box.population.new_follower().openid
        try:
            assert wechat.deliver(box.wechat.follow(openid)).acknowledged
        finally:
            wechat.close()
            web.stop()
        wait_until(lambda: any(r.get("OpenId__c") == openid
                               for r in box.salesforce.records("WeChat_Follower__c")),
                   "the worker to write the follower")
    finally:
        assert stop(worker) == 0, log.read_text()[-2000:]


def test_a_worker_asked_to_stop_during_an_outage_stops(box, own_redis, tmp_path):
    own_redis.start()
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], {**box.env, "REDIS_URL": own_redis.url, "LOG_LEVEL": "INFO"},
                   log)
    try:
        wait_until(lambda: "Listening on" in log.read_text(), "the worker to listen")
        own_redis.kill()
        wait_until(lambda: "could not connect to Redis" in log.read_text(),
                   "the worker to wait for Redis")
        worker.send_signal(signal.SIGTERM)  # a dyno restart, while Redis is still away
        wait_until(lambda: worker.poll() is not None, "the worker to stop")
        assert worker.returncode == 0, log.read_text()[-2000:]
    finally:
        stop(worker)


def test_a_clock_started_while_redis_is_down_keeps_trying_then_polls(
        box, own_redis, tmp_path):
    log = tmp_path / "clock.log"
    clock = spawn(["clock"], {**box.env, "REDIS_URL": own_redis.url, "LOG_LEVEL": "INFO",
                              "POLL_INTERVAL_SECONDS": "5"}, log)
    try:
        wait_until(lambda: log.read_text().count("clock: Redis unavailable") >= 2 or
                   clock.poll() is not None, "the clock to retry twice")
        assert clock.poll() is None, log.read_text()[-2000:]
        own_redis.start()
        wait_until(lambda: changes_queue(Redis.from_url(own_redis.url)).count > 0,
                   "the clock to enqueue a poll")
    finally:
        assert stop(clock) == 0, log.read_text()[-2000:]


def test_connector_run_outlives_an_outage_and_restarts_a_killed_child(
        box, own_redis, tmp_path):
    own_redis.start()
    log, port = tmp_path / "run.log", free_port()
    env = {**box.env, "REDIS_URL": own_redis.url, "PORT": str(port), "LOG_LEVEL": "INFO",
           "POLL_INTERVAL_SECONDS": "5"}
    run = spawn(["run"], env, log)
    url = f"http://127.0.0.1:{port}"

    def web_says(status: int) -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == status
        except httpx.TransportError:
            return False

    try:
        wait_until(lambda: web_says(200), "the web process")
        wait_until(lambda: "polling Salesforce for changes" in log.read_text(), "the clock")
        roles = {role: role_pid(run.pid, role) for role in ("web", "worker", "clock")}
        assert all(roles.values()), children_of(run.pid)

        own_redis.kill()
        wechat = sender_for(box, f"{url}/wechat/callback", resends=0)
        openid = box.population.new_follower().openid
        push = wechat.prepare(box.wechat.follow(openid))
        assert wechat.send(push).statuses == (503,)
        # Each process meets the outage (the clock on its next beat) and waits it out.
        # (the worker: rq's own wait for a job, or ours between two workers)
        wait_until(lambda: "clock: Redis unavailable" in log.read_text() and (
            "could not connect to Redis" in log.read_text() or
            "jobs.worker" in log.read_text()), "both to notice")
        own_redis.start()
        wait_until(lambda: web_says(200), "the web process to reach Redis again")
        assert wechat.send(push).acknowledged  # WeChat's resend
        wechat.close()
        wait_until(lambda: any(r.get("OpenId__c") == openid
                               for r in box.salesforce.records("WeChat_Follower__c")),
                   "the worker to write the follower")
        assert {role: role_pid(run.pid, role) for role in roles} == roles  # none died
        assert "restarting it" not in log.read_text()

        scheduler = list(children_of(roles["worker"]))  # rq's scheduler process
        assert scheduler
        os.kill(roles["worker"], signal.SIGKILL)  # as the kernel's OOM killer would
        wait_until(lambda: role_pid(run.pid, "worker") not in (None, roles["worker"]),
                   "the supervisor to restart the worker")
        # the dead worker's scheduler does not linger as an orphan
        wait_until(lambda: not any(alive(pid) for pid in scheduler), "the orphan to stop")
        assert f"worker (pid {roles['worker']}) killed by SIGKILL; restarting it" in \
            log.read_text()
        assert run.poll() is None
        assert role_pid(run.pid, "web") == roles["web"]
    finally:
        assert stop(run) == 0, log.read_text()[-3000:]
