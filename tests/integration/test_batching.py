"""Batch claims on a real Redis: coalescing without losing or doubling an event."""

from connector.errors import FatalError
from connector.events import InboundEvent
from jobs import batching


def event(n: int) -> InboundEvent:
    return InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": f"o{n}",
                                     "CreateTime": str(1700000000 + n), "MsgType": "event",
                                     "Event": "subscribe"})


def test_first_claim_takes_own_event_first_then_oldest_pending(redis_conn):
    events = [event(n) for n in range(5)]
    for e in events:
        batching.record_pending(redis_conn, e)
    own = events[3].dedupe_key
    claimed = batching.claim(redis_conn, "job-a", own, limit=3)
    assert claimed[0] == own and len(claimed) == 3
    # a second job gets only what is left, never an event already claimed
    rest = batching.claim(redis_conn, "job-b", events[0].dedupe_key, limit=10)
    assert set(rest).isdisjoint(claimed)
    assert set(rest) | set(claimed) == {e.dedupe_key for e in events}


def test_done_events_are_never_claimed_again(redis_conn):
    e = event(1)
    batching.record_pending(redis_conn, e)
    batching.mark_done(redis_conn, {e.dedupe_key: None})
    batching.record_pending(redis_conn, e)  # a late re-add (enqueue race)
    assert batching.claim(redis_conn, "job", "", limit=10) == []
    assert batching.outcome(redis_conn, e.dedupe_key) == ("done", None)


def test_release_with_requeue_makes_events_claimable_again(redis_conn):
    e = event(2)
    batching.record_pending(redis_conn, e)
    assert batching.claim(redis_conn, "job-a", e.dedupe_key) == [e.dedupe_key]
    assert batching.outcome(redis_conn, e.dedupe_key) == ("claimed", None)
    batching.release(redis_conn, "job-b", [e.dedupe_key], requeue=True)  # not ours: no-op
    assert batching.claim(redis_conn, "job-c", e.dedupe_key) == []
    batching.release(redis_conn, "job-a", [e.dedupe_key], requeue=True)
    assert batching.claim(redis_conn, "job-c", e.dedupe_key) == [e.dedupe_key]


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


def test_stored_events_round_trip(redis_conn):
    events = [event(n) for n in range(3)]
    for e in events:
        batching.record_pending(redis_conn, e)
    loaded = batching.load_events(redis_conn, [e.dedupe_key for e in events] + ["missing"])
    assert loaded == {e.dedupe_key: e for e in events}
