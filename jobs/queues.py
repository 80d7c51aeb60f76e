"""Queue names and the one way events enter the queue.

Enqueueing is idempotent: the job id is the event's dedupe key and ``unique=True`` makes
rq refuse a second job with the same id, so WeChat's resends of one push become one job.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError

from connector.events import InboundEvent

log = logging.getLogger(__name__)

INBOUND = "inbound"
# How long a finished job (and so its dedupe key) is kept. WeChat resends within ~15 s;
# an hour also absorbs a replayed delivery log without double work.
DEDUPE_SECONDS = 3600
# A job that never finishes in this time is stuck (a Salesforce batch takes seconds).
JOB_TIMEOUT = 300


def inbound_queue(connection: Redis) -> Queue:
    return Queue(INBOUND, connection=connection)


def enqueue_inbound(connection: Redis, event: InboundEvent) -> bool:
    """Enqueue one job for ``event``.

    Returns:
        True when a new job was enqueued, False when the event's key already has a job
        (a resend or a duplicate), which the caller treats as success.
    """
    try:
        inbound_queue(connection).enqueue(
            "jobs.inbound.handle_event",
            event.to_dict(),
            job_id=event.dedupe_key,
            unique=True,
            result_ttl=DEDUPE_SECONDS,
            failure_ttl=30 * 24 * 3600,
            job_timeout=JOB_TIMEOUT,
            description=f"{event.kind} from {event.openid}",
        )
    except DuplicateJobError:
        log.info("duplicate push %s dropped", event.dedupe_key)
        return False
    return True
