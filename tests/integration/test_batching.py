"""Batch claims on a real Redis: coalescing without losing or doubling an event."""

from connector.errors import FatalError
from connector.events import InboundEvent
from jobs import batching
from jobs.queues import enqueue_inbound, inbound_queue


def event(n: int) -> InboundEvent:
    return InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": f"o{n}",
                                     "CreateTime": str(1700000000 + n), "MsgType": "event",
                                     "Event": "subscribe"})


def queued(redis_conn, *events: InboundEvent) -> str:
    for e in events:
        assert enqueue_inbound(redis_conn, e)
    return inbound_queue(redis_conn).key


def test_first_claim_takes_own_event_first_then_oldest_waiting(redis_conn):
    events = [event(n) for n in range(5)]
    key = queued(redis_conn, *events)
    own = events[3].dedupe_key
    claimed = batching.claim(redis_conn, key, "job-a", own, limit=3)
    assert claimed == [own, events[0].dedupe_key, events[1].dedupe_key]
    # a second job gets only what is left, never an event already claimed
    rest = batching.claim(redis_conn, key, "job-b", events[0].dedupe_key, limit=10)
    assert rest == [events[2].dedupe_key, events[4].dedupe_key]


def test_events_with_an_outcome_are_never_claimed_again(redis_conn):
    e = event(1)
    key = queued(redis_conn, e)
    batching.mark_done(redis_conn, {e.dedupe_key: None})
    assert batching.claim(redis_conn, key, "job", e.dedupe_key, limit=10) == []
    assert batching.outcome(redis_conn, e.dedupe_key) == ("done", None)


def test_only_the_owner_releases_a_claim(redis_conn):
    e = event(2)
    key = queued(redis_conn, e)
    assert batching.claim(redis_conn, key, "job-a", e.dedupe_key) == [e.dedupe_key]
    assert batching.outcome(redis_conn, e.dedupe_key) == ("claimed", None)
    batching.release(redis_conn, "job-b", [e.dedupe_key])  # not ours: no-op
    assert batching.claim(redis_conn, key, "job-c", e.dedupe_key) == []
    batching.release(redis_conn, "job-a", [e.dedupe_key])
    assert batching.claim(redis_conn, key, "job-c", e.dedupe_key) == [e.dedupe_key]


def test_failure_is_kept_with_its_class_code_and_fields(redis_conn):
    e = event(3)
    error = FatalError("Required fields are missing: [Phone]", system="salesforce",
                       status=400, code="REQUIRED_FIELD_MISSING", fields=["Phone"])
    batching.mark_done(redis_conn, {e.dedupe_key: error})
    state, loaded = batching.outcome(redis_conn, e.dedupe_key)
    assert state == "failed" and isinstance(loaded, FatalError)
    assert loaded.code == "REQUIRED_FIELD_MISSING" and loaded.fields == ["Phone"]
    batching.forget(redis_conn, e.dedupe_key)
    assert batching.outcome(redis_conn, e.dedupe_key) == ("free", None)


def test_events_are_read_back_from_their_jobs(redis_conn):
    events = [event(n) for n in range(3)]
    queued(redis_conn, *events)
    loaded = batching.load_events(redis_conn, [e.dedupe_key for e in events] + ["missing"])
    assert loaded == {e.dedupe_key: e for e in events}
