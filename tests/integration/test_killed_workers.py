"""A killed work horse: the real worker (`connector worker`'s, forking a horse per job) in
a process of its own, its horse SIGKILLed in the middle of a batch, as Heroku does to a
dyno out of memory. Nothing is lost, nothing is written twice, nobody replays."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rq.job import Job

from jobs import batching
from jobs.queues import inbound_queue
from jobs.replay import replay_failed
from jobs.retry import BACKOFF

WORKER = "from connector.cli.processes import run_worker; run_worker()"


@contextlib.contextmanager
def worker_process(log: Path) -> Iterator[subprocess.Popen]:
    """``connector worker`` in a subprocess (the environment is the test's), stopped at
    the end: SIGTERM, then SIGKILL to its process group if it lingers."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", WORKER], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def until(condition: Callable[[], object], what: str, timeout: float = 90.0) -> object:
    """Wait for ``condition`` to hold (a deadline only so a broken build cannot hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def horse_of(worker: subprocess.Popen) -> int | None:
    """The worker's work horse: its child in a process group of its own (rq's horse
    calls setpgrp; the scheduler's process stays in the worker's group)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    for pid in map(int, children):
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                return pid
    return None


def claim_owner(redis, key: str) -> str | None:
    value = redis.get(batching.PREFIX + "claim:" + key)
    return value.decode() if value else None


def test_a_killed_horse_s_batch_lands_once_and_its_claims_are_freed_at_once(bridge, tmp_path):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    followers = [bridge.box.population.new_follower().openid for _ in range(3)]
    for openid in followers:
        assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    queue = inbound_queue(bridge.redis)
    first, *others = queue.job_ids
    # the batch's first Salesforce call hangs: the horse is mid-job when it is killed
    hang = sf.faults.add(endpoint="/services/data/", latency_ms=60_000, count=1)

    with worker_process(tmp_path / "worker.log") as worker:
        # the first job's batch holds all three events
        owner = until(lambda: all(claim_owner(bridge.redis, k) for k in others)
                      and claim_owner(bridge.redis, first), "the batch's claims")
        held = {k: claim_owner(bridge.redis, k) for k in others}
        until(lambda: hang.hits, "the batch's call to Salesforce")
        # the batch took the other events' jobs: off the queue, no worker runs them
        assert queue.count == 0 and batching.in_batches(bridge.redis) == 2
        horse = until(lambda: horse_of(worker), "the work horse")
        os.kill(horse, signal.SIGKILL)

        # the worker noticed the death and dropped the dead batch's claims, and gave the
        # jobs it took back to the queue: they run, long before the lease would have
        # let them go
        until(lambda: all(claim_owner(bridge.redis, k) != held[k] for k in others),
              "the dead job's claims to go", timeout=batching.LEASE_MS / 1000 / 4)
        until(lambda: batching.in_batches(bridge.redis) == 0 or all(
            claim_owner(bridge.redis, k) for k in others), "the taken jobs to be back")

        # every event lands, the killed job's own too (retried, not failed)
        until(lambda: bridge.count("WeChat_Follower__c") == 3, "the three followers")
        until(lambda: queue.finished_job_registry.count == 3, "the three jobs to finish")

    assert owner and queue.failed_job_registry.count == 0
    assert batching.in_batches(bridge.redis) == 0
    for openid in followers:
        assert bridge.count("WeChat_Follower__c", OpenId__c=openid) == 1
        assert bridge.count("Lead", WeChat_OpenId__c=openid) == 1
    log = (tmp_path / "worker.log").read_text()
    assert log.count("Work-horse terminated") == 1
    assert f"job {first} died holding 3 claims; released" in log


def test_retries_go_on_when_the_worker_running_the_scheduler_dies(bridge, tmp_path):
    """rq runs the scheduler (which moves due retries back to their queue) in one
    worker at a time, under a lock that lapses a minute after that worker dies: another
    worker takes it over at its next maintenance."""
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    lock = f"rq:scheduler-lock:{inbound_queue(bridge.redis).name}"
    with worker_process(tmp_path / "first.log") as first:
        until(lambda: bridge.redis.exists(lock), "the first worker's scheduler")
        with worker_process(tmp_path / "second.log"):
            os.killpg(first.pid, signal.SIGKILL)  # the dyno is gone: worker and scheduler
            first.wait()
            # a 503 that outlasts the call's own retries (connector/in_call.py: 4 attempts)
            sf.faults.add(endpoint="/services/data/", status=503, count=4)
            openid = bridge.box.population.new_follower().openid
            assert bridge.sender.deliver(wx.follow(openid)).acknowledged
            queue = inbound_queue(bridge.redis)
            until(lambda: queue.scheduled_job_registry.count == 1, "the retry")
            until(lambda: bridge.count("WeChat_Follower__c", OpenId__c=openid) == 1,
                  "the retry to run", timeout=240)
    assert queue.failed_job_registry.count == 0


def test_a_fatal_failure_is_not_retried_and_its_replay_may_die_again(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.require_fields("Lead", ["Phone"])
    assert bridge.sender.deliver(wx.follow(bridge.box.population.new_follower().openid)
                                 ).acknowledged
    queue = inbound_queue(bridge.redis)
    (job_id,) = queue.job_ids
    assert Job.fetch(job_id, connection=bridge.redis).retries_left == len(BACKOFF)
    bridge.work()
    assert queue.failed_job_registry.get_job_ids() == [job_id]  # at once, not retried
    assert queue.scheduled_job_registry.count == 0

    assert replay_failed(bridge.redis) == [job_id]
    # replayed, it is retried again if its horse dies
    assert Job.fetch(job_id, connection=bridge.redis).retries_left == len(BACKOFF)


def test_a_job_whose_whole_worker_died_is_retried_by_another(bridge, tmp_path):
    """The dyno is gone mid-job (worker, scheduler and horse at once): the job's
    heartbeat lapses, another worker's maintenance finds it abandoned and rq retries
    it; nobody replays."""
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    queue = inbound_queue(bridge.redis)
    (job_id,) = queue.job_ids
    hang = sf.faults.add(endpoint="/services/data/", latency_ms=60_000, count=1)
    with worker_process(tmp_path / "first.log") as first:
        until(lambda: hang.hits, "the job's call to Salesforce")
        horse = until(lambda: horse_of(first), "the work horse")
        os.killpg(first.pid, signal.SIGKILL)
        os.kill(horse, signal.SIGKILL)
        first.wait()
    with worker_process(tmp_path / "second.log"):
        until(lambda: bridge.count("WeChat_Follower__c", OpenId__c=openid) == 1,
              "another worker to retry the job", timeout=300)
        until(lambda: queue.finished_job_registry.get_job_ids() == [job_id], "its end")
    assert queue.failed_job_registry.count == 0
    assert bridge.count("Lead", WeChat_OpenId__c=openid) == 1
