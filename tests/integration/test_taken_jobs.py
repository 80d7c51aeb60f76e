"""Burst drain: a batch's owner takes the jobs of the events it claims off the queue and
completes them in rq itself; a taken job never runs, yet rq, ``connector status`` and
``connector replay`` see it as if it had (real Redis, real rq worker, both sandboxes)."""

from __future__ import annotations

from redis import Redis
from rq.job import Job, JobStatus
from rq.results import Result

from connector.settings import DEFAULT_MAPPING
from jobs import batching
from jobs.queues import inbound_queue
from jobs.replay import replay_failed
from jobs.status import collect_status
from jobs.worker import BridgeWorker
from mappings.loader import parse_mapping
from sandbox.server import free_port


def deliver_follows(bridge, count: int, pushes: list | None = None) -> list[str]:
    """``count`` new followers follow (their pushes appended to ``pushes``); the job ids
    queued, oldest first."""
    wx = bridge.box.wechat
    for _ in range(count):
        push = wx.follow(bridge.box.population.new_follower().openid)
        assert bridge.sender.deliver(push).acknowledged
        if pushes is not None:
            pushes.append(push)
    return inbound_queue(bridge.redis).job_ids



def test_the_batch_owner_completes_the_jobs_it_took(bridge):
    pushes = []
    first, *others = deliver_follows(bridge, 5, pushes)
    queue = inbound_queue(bridge.redis)
    bridge.work()

    assert queue.count == 0 and batching.in_batches(bridge.redis) == 0
    assert sorted(queue.finished_job_registry.get_job_ids()) == sorted([first, *others])
    own = Job.fetch(first, connection=bridge.redis)
    assert own.return_value()["status"] == "written" and own.return_value()["batch"] == 5
    for job_id in others:
        job = Job.fetch(job_id, connection=bridge.redis)
        assert job.get_status() == JobStatus.FINISHED
        result = job.latest_result()
        assert result.type == Result.Type.SUCCESSFUL
        # no worker ran it: the result says whose batch wrote it, and what it wrote
        assert not result.worker_name
        assert result.return_value["status"] == "coalesced"
        assert result.return_value["by"] == first and result.return_value["person"]
        assert result.return_value["person_created"] is True
        assert job.return_value() == result.return_value
        assert bridge.redis.ttl(job.key) > 0  # kept like a finished job, then gone
    assert bridge.count("Lead") == 5 and bridge.count("WeChat_Follower__c") == 5
    assert collect_status(bridge.redis)["in_batches"] == 0
    # WeChat resends a taken event: dropped (its job id is kept, finished)
    assert bridge.sender.deliver(pushes[-1]).acknowledged
    assert queue.count == 0


def test_a_taken_job_that_fails_is_in_the_failed_registry_and_replays(bridge):
    sf = bridge.box.salesforce
    sf.require_fields("Lead", ["Phone"])  # an admin made Phone required
    first, second = deliver_follows(bridge, 2)
    queue = inbound_queue(bridge.redis)
    bridge.work()

    assert sorted(queue.failed_job_registry.get_job_ids()) == sorted([first, second])
    taken = Job.fetch(second, connection=bridge.redis)
    assert taken.get_status() == JobStatus.FAILED
    assert taken.latest_result().type == Result.Type.FAILED
    status = collect_status(bridge.redis)
    assert status["failed_count"] == 2
    for failed in status["failed"]:
        assert "REQUIRED_FIELD_MISSING" in failed["reason"] and "Phone" in failed["reason"]
    assert bridge.count("Lead") == 0

    text = DEFAULT_MAPPING.read_text().replace(
        '    LeadSource:        { value: "WeChat" }',
        '    LeadSource:        { value: "WeChat" }\n    Phone:             { value: "n/a" }')
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)
    assert sorted(replay_failed(bridge.redis)) == sorted([first, second])
    bridge.work()
    assert bridge.count("Lead", Phone="n/a") == 2
    assert collect_status(bridge.redis)["failed_count"] == 0
    assert Job.fetch(second, connection=bridge.redis).get_status() == JobStatus.FINISHED


def test_a_taken_job_whose_event_can_be_retried_is_scheduled_not_run(bridge):
    sf = bridge.box.salesforce
    sf.faults.add(endpoint="/services/data/", status=503)  # outlasts the call's retries
    first, second = deliver_follows(bridge, 2)
    queue = inbound_queue(bridge.redis)
    bridge.work()

    assert sorted(queue.scheduled_job_registry.get_job_ids()) == sorted([first, second])
    taken = Job.fetch(second, connection=bridge.redis)
    assert taken.get_status() == JobStatus.SCHEDULED
    assert taken.number_of_retries == 1  # one retry spent, as if it had returned a Retry
    assert queue.failed_job_registry.count == 0 and batching.in_batches(bridge.redis) == 0
    assert batching.outcome(bridge.redis, second) == ("free", None)

    sf.faults.clear()
    bridge.run_due()
    assert bridge.count("WeChat_Follower__c") == 2 and bridge.count("Lead") == 2
    assert queue.failed_job_registry.count == queue.scheduled_job_registry.count == 0


def test_a_taken_job_whose_follower_another_batch_writes_waits_for_it(bridge):
    first, second = deliver_follows(bridge, 2)
    event = batching.load_events(bridge.redis, [second])[second]
    bridge.redis.set(batching.follower_key(event), "another-job:0001", px=batching.LEASE_MS)
    queue = inbound_queue(bridge.redis)
    bridge.work()

    assert queue.finished_job_registry.get_job_ids() == [first]
    taken = Job.fetch(second, connection=bridge.redis)
    assert taken.get_status() == JobStatus.SCHEDULED and taken.meta["waits"] == 1
    bridge.redis.delete(batching.follower_key(event))  # the other batch is done
    bridge.run_due()
    assert bridge.count("WeChat_Follower__c") == 2
    assert queue.finished_job_registry.count == 2


def test_a_dead_owner_s_taken_jobs_go_back_to_the_front_of_the_queue(bridge):
    first, *others = deliver_follows(bridge, 3)
    queue = inbound_queue(bridge.redis)
    later = deliver_follows(bridge, 1)[-1]
    assert batching.claim(bridge.redis, queue.key, "owner:1", first, limit=3,
                          job_id=first) == [first, *others]
    assert queue.job_ids == [first, later]  # the owner's own job stays (it runs it)
    assert batching.in_batches(bridge.redis) == 2

    assert batching.release_job(bridge.redis, first) == 3
    ids = queue.job_ids  # at the front, before the event that came later
    assert sorted(ids[:2]) == sorted(others) and ids[2:] == [first, later]
    assert batching.in_batches(bridge.redis) == 0
    bridge.work()
    assert queue.finished_job_registry.count == 4 and bridge.count("Lead") == 4


def test_the_sweep_puts_back_the_jobs_of_an_owner_that_died_with_its_worker(bridge):
    first, second, third = deliver_follows(bridge, 3)
    queue = inbound_queue(bridge.redis)
    assert batching.claim(bridge.redis, queue.key, "gone:1", first, job_id=first) == [
        first, second, third]
    worker = BridgeWorker([queue], connection=bridge.redis)
    assert worker.sweep_taken() == 0  # taken a moment ago, and held: not orphans

    # the owner's whole worker died: nobody released anything, the lease lapsed
    bridge.redis.delete(batching.PREFIX + "claim:" + second,
                        batching.PREFIX + "claim:" + first)
    assert worker.sweep_taken() == 0  # too young still: its owner may be at work
    old = bridge.redis.zscore(batching.TAKEN, second) - batching.LEASE_MS - 1
    bridge.redis.zadd(batching.TAKEN, {second: old, third: old})
    assert worker.sweep_taken() == 1  # the third is still held (its claim lives)
    assert queue.job_ids == [second, first]
    assert bridge.redis.zrange(batching.TAKEN, 0, -1) == [third.encode()]
    assert worker.sweep_taken() == 0  # done once, whoever sweeps again

    bridge.redis.delete(batching.PREFIX + "claim:" + third)
    assert worker.sweep_taken() == 1
    bridge.work()
    assert queue.finished_job_registry.count == 3 and bridge.count("Lead") == 3
    assert batching.in_batches(bridge.redis) == 0


def test_what_a_job_ended_with_redis_away_held_goes_back_when_redis_is_back(bridge):
    first, *others = deliver_follows(bridge, 3)
    queue = inbound_queue(bridge.redis)
    # the first job's batch claimed every event and took the others' jobs; its horse
    # ended while Redis was away, so nothing could be released then
    assert batching.claim(bridge.redis, queue.key, f"{first}:0001", first,
                          job_id=first) == [first, *others]
    assert queue.job_ids == [first] and batching.in_batches(bridge.redis) == 2
    BridgeWorker.ended.clear()
    worker = BridgeWorker([queue], connection=bridge.redis)
    worker.connection = Redis(port=free_port("127.0.0.1"))  # nobody there: Redis away
    BridgeWorker.ended.add(first)
    try:
        assert worker.settle_ended() == 0
        assert BridgeWorker.ended == {first}  # kept for when Redis is back
        # Redis is back: the next worker (the process starts one after an outage)
        # releases at once, not after the lease and a sweep
        BridgeWorker([queue], connection=bridge.redis)
        assert BridgeWorker.ended == set()
    finally:
        BridgeWorker.ended.clear()
    assert sorted(queue.job_ids) == sorted([first, *others])
    assert batching.in_batches(bridge.redis) == 0
    assert all(batching.outcome(bridge.redis, k) == ("free", None) for k in [first, *others])
    bridge.work()
    assert bridge.count("Lead") == 3
