"""The bridge's queues and the one way into each: every job is enqueued here.

======== =================================================== ============================
queue    jobs                                                job id
======== =================================================== ============================
inbound  ``jobs.inbound.handle_event``, one per WeChat push   the event's dedupe key
changes  ``jobs.changes.handle_changes`` (poll, Outbound Msg) ``changes-<origin>-<digest>``
messages ``jobs.messages.send_request``, one per request tick ``message-<Id>-<digest>``
messages ``jobs.followups.send_follow_up``, scheduled (rq's   the follow-up's id (``fu-...``)
         scheduler, in the worker) for its due time
======== =================================================== ============================

Every job is enqueued with :func:`jobs.deaths.death_retry`: a job whose process dies
is retried with the common backoff, not failed.

Enqueueing is idempotent: the id is made from what the job is for, and ``unique=True``
makes rq refuse a second job with that id while the first is kept (queued, running, or
finished within its result TTL), so WeChat's resends of a push, a resent Outbound
Message and a poll that sees a change again each add nothing. The functions' dotted
paths are stored in Redis with every job: they stay where they are across releases.

:class:`RqQueues` is the features' way in (:class:`connector.context.Queues`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError

from connector.chunks import chunks
from connector.events import InboundEvent
from connector.ids import is_api_name, is_record_id
from jobs.backoff import death_retry

log = logging.getLogger(__name__)

INBOUND, CHANGES, MESSAGES = "inbound", "changes", "messages"
# How long a finished job (and so its id) is kept. WeChat resends within ~15 s; an hour
# also absorbs a replayed delivery log, a resent notification or a poll's lookback.
KEEP_SECONDS = 3600
FAILED_SECONDS = 30 * 86_400  # a failed job waits this long for an operator's replay
# A job that runs longer is stuck (a Salesforce batch takes seconds); a message request
# may mass-send to tens of thousands and write each recipient's record (its run's lock,
# connector/messaging/run.py, outlives this).
JOB_TIMEOUT = 300
MESSAGE_TIMEOUT = 1800
CHANGE_BATCH = 200  # record ids per change job


def inbound_queue(connection: Redis) -> Queue:
    return Queue(INBOUND, connection=connection)


def changes_queue(connection: Redis) -> Queue:
    return Queue(CHANGES, connection=connection)


def messages_queue(connection: Redis) -> Queue:
    return Queue(MESSAGES, connection=connection)


def _enqueue(queue: Queue, func: str, *args: object, job_id: str, description: str,
             timeout: int = JOB_TIMEOUT) -> bool:
    """Enqueue ``func(*args)`` as ``job_id``; False when that job exists already."""
    try:
        queue.enqueue(func, *args, job_id=job_id, unique=True, result_ttl=KEEP_SECONDS,
                      failure_ttl=FAILED_SECONDS, job_timeout=timeout,
                      description=description, retry=death_retry())
    except DuplicateJobError:
        return False
    return True


def enqueue_inbound(connection: Redis, event: InboundEvent) -> bool:
    """Enqueue the job of ``event``.

    Returns:
        True when a new job was enqueued, False when the event's key already has a job
        (a resend or a duplicate), which the caller treats as success.
    """
    new = _enqueue(inbound_queue(connection), "jobs.inbound.handle_event", event.to_dict(),
                   job_id=event.dedupe_key, description=f"{event.kind} from {event.openid}")
    if not new:
        log.info("duplicate push %s dropped", event.dedupe_key)
    return new


def enqueue_changes(connection: Redis, object_name: str, record_ids: Iterable[str], *,
                    origin: str, key: str, batch: int = CHANGE_BATCH) -> list[str]:
    """Enqueue change jobs for ``record_ids`` of ``object_name``, ``batch`` ids per job,
    with job ids ``changes-<origin>-<digest of key and ids>``.

    Returns:
        The ids of the jobs enqueued now (an id already queued or kept is left out).

    Raises:
        ValueError: ``object_name`` is not an API name.
        redis.exceptions.RedisError: Redis is unreachable (nothing may have been queued).
    """
    if not is_api_name(object_name):
        raise ValueError(f"{object_name!r} is not a Salesforce object name")
    ids = list(dict.fromkeys(i for i in record_ids if is_record_id(i)))
    queue = changes_queue(connection)
    enqueued = []
    for chunk in chunks(ids, batch):
        digest = hashlib.sha256(f"{object_name}|{key}|{','.join(chunk)}".encode()).hexdigest()
        job_id = f"changes-{origin}-{digest[:20]}"
        if _enqueue(queue, "jobs.changes.handle_changes", object_name, chunk, job_id=job_id,
                    description=f"{len(chunk)} changed {object_name} ({origin})"):
            enqueued.append(job_id)
        else:
            log.debug("change job %s exists; not enqueued again", job_id)
    return enqueued


def enqueue_request(connection: Redis, message_id: str, stamp: str = "") -> str | None:
    """Enqueue the send job of a message request; the id ``message-<Id>-<digest of
    stamp>`` keeps one job per tick. Returns the id, or None when that job exists."""
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    job_id = f"message-{message_id}-{digest}"
    new = _enqueue(messages_queue(connection), "jobs.messages.send_request", message_id,
                   job_id=job_id, description=f"message request {message_id}",
                   timeout=MESSAGE_TIMEOUT)
    return job_id if new else None


def enqueue_follow_up(connection: Redis, follow_up_id: str, delay_seconds: float) -> str | None:
    """Schedule the send job of a follow-up in ``delay_seconds`` (rq's scheduled job
    registry; a worker's scheduler, ``with_scheduler=True``, moves it to the queue when
    due). The job id is the follow-up's id, ``unique``: returns it, or None when that job
    exists (scheduled, queued, running, or kept after it ran)."""
    try:
        messages_queue(connection).enqueue_in(
            timedelta(seconds=max(0.0, delay_seconds)), "jobs.followups.send_follow_up",
            follow_up_id, job_id=follow_up_id, unique=True, result_ttl=KEEP_SECONDS,
            failure_ttl=FAILED_SECONDS, job_timeout=JOB_TIMEOUT, retry=death_retry(),
            description=f"follow-up {follow_up_id}")
    except DuplicateJobError:
        return None
    return follow_up_id


class RqQueues:
    """:class:`connector.context.Queues` on RQ, for one Redis connection."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def changes(self, object_name: str, record_ids: Iterable[str], *, origin: str,
                key: str, batch: int = CHANGE_BATCH) -> list[str]:
        return enqueue_changes(self.redis, object_name, record_ids, origin=origin, key=key,
                               batch=batch)

    def message_request(self, message_id: str, stamp: str = "") -> str | None:
        return enqueue_request(self.redis, message_id, stamp)

    def follow_up(self, follow_up_id: str, delay_seconds: float) -> str | None:
        return enqueue_follow_up(self.redis, follow_up_id, delay_seconds)


def queue_depths(redis: Redis) -> dict[str, dict[str, int]]:
    """Per rq queue (inbound, changes, messages): jobs ``queued``, ``running``,
    ``scheduled`` (retries and waits included) and ``failed`` (for ``/metrics``).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    return {queue.name: {"queued": queue.count,
                         "running": queue.started_job_registry.count,
                         "scheduled": queue.scheduled_job_registry.count,
                         "failed": queue.failed_job_registry.count}
            for queue in (inbound_queue(redis), changes_queue(redis), messages_queue(redis))}
