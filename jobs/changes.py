"""The change job: some records of one Salesforce object changed → every watch on it.

Both ways of noticing changes enqueue :func:`handle_changes` with record ids only: the
clock's poll (``jobs/poll.py``) and Outbound Messages (``webhooks/
salesforce_outbound.py``, whose field values are never trusted: they are hints). The job
re-reads the records (one ``queryAll`` per 200 ids, so deleted ones come back with
``IsDeleted``), tells the bridge's own writes apart (``LastModifiedById`` is its
integration user: an echo, counted and kept from the watches that do not ask for them)
and hands each watch of ``jobs/watches.py`` its records. Reading the current values makes
repeated and out-of-order notifications harmless: the second run finds nothing new.

Jobs go to their own queue, ``changes`` (the ``inbound`` queue's list is the inbound
batcher's), with an id made from what noticed the change, so a resent notification or a
poll that sees the same change again adds no second job while the first is kept.
Retriable failures return an rq ``Retry`` with the inbound job's backoff; fatal ones fail
the job (``connector sync status`` lists them, ``connector sync replay`` runs them again).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError

from connector import sync_stats
from connector.errors import FatalError, RetriableError
from connector.salesforce import is_record_id, same_id
from jobs.context import WorkerContext, get_context
from jobs.retry import MAX_RETRIES, retry_delay, with_jitter
from jobs.watches import watches

log = logging.getLogger(__name__)

CHANGES = "changes"
BATCH = 200  # ids per job: one SOQL ``Id IN (...)`` each
SYSTEM_FIELDS = ("Id", "IsDeleted", "LastModifiedById", "SystemModstamp")
# How long a finished job (so its id) is kept: a resent notification or a poll's
# lookback within this time finds it and adds nothing.
KEEP_SECONDS = 3600
JOB_TIMEOUT = 300
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def changes_queue(connection: Redis) -> Queue:
    return Queue(CHANGES, connection=connection)


def enqueue_changes(connection: Redis, object_name: str, record_ids: Iterable[str], *,
                    origin: str, key: str, batch: int = BATCH) -> list[str]:
    """Enqueue :func:`handle_changes` for ``record_ids`` of ``object_name``, ``batch``
    ids per job, with job ids ``changes-<origin>-<digest of key and ids>``.

    Returns:
        The ids of the jobs enqueued now (an id already queued or kept is left out).

    Raises:
        ValueError: ``object_name`` is not an API name.
        redis.exceptions.RedisError: Redis is unreachable (nothing may have been queued).
    """
    if not _API_NAME.match(object_name):
        raise ValueError(f"{object_name!r} is not a Salesforce object name")
    ids = list(dict.fromkeys(i for i in record_ids if is_record_id(i)))
    queue = changes_queue(connection)
    enqueued = []
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        digest = hashlib.sha256(f"{object_name}|{key}|{','.join(chunk)}".encode()).hexdigest()
        job_id = f"changes-{origin}-{digest[:20]}"
        try:
            queue.enqueue("jobs.changes.handle_changes", object_name, chunk, job_id=job_id,
                          unique=True, result_ttl=KEEP_SECONDS, failure_ttl=30 * 86_400,
                          job_timeout=JOB_TIMEOUT,
                          description=f"{len(chunk)} changed {object_name} ({origin})")
        except DuplicateJobError:
            log.debug("change job %s exists; not enqueued again", job_id)
            continue
        enqueued.append(job_id)
    return enqueued


def handle_changes(object_name: str, record_ids: list[str]) -> dict[str, Any] | Retry:
    """Re-read ``record_ids`` of ``object_name`` and run every watch on them.

    Raises:
        FatalError: Salesforce refused the query (a watched field is missing, say) or a
            retriable failure outlasted the retries.
    """
    ctx = get_context()
    job = get_current_job()
    retries_done = (job.number_of_retries or 0) if job else 0
    try:
        return run_watches(ctx, object_name, record_ids)
    except RetriableError as error:
        delay = retry_delay(error, retries_done)
        if delay is None:
            raise FatalError(f"gave up after {MAX_RETRIES} retries: {error}",
                             system=error.system, status=error.status, code=error.code,
                             request_id=error.request_id) from None
        delay = with_jitter(delay)
        log.warning("changes of %d %s will be retried in %d s: %s", len(record_ids),
                    object_name, delay, error)
        return Retry(max=MAX_RETRIES + 1, interval=delay)


def run_watches(ctx: WorkerContext, object_name: str, record_ids: list[str]
                ) -> dict[str, Any]:
    """The job's work, without rq: read the records once, give each watch its own."""
    mine = [w for w in watches(ctx) if w.object == object_name]
    if not mine:
        return {"object": object_name, "status": "not watched"}
    fields = list(SYSTEM_FIELDS)
    for watch in mine:
        fields += [f for f in watch.fields if f not in fields]
    records = read_records(ctx, object_name, fields, record_ids)
    bridge_user = ctx.salesforce.identity().user_id
    own = {r["Id"] for r in records if same_id(r.get("LastModifiedById"), bridge_user)}
    sync_stats.count(ctx.redis, echoes=len(own))
    results = {}
    for watch in mine:
        given = [r for r in records if (watch.deletes or not r.get("IsDeleted"))
                 and (watch.echoes or r["Id"] not in own)]
        results[watch.name] = watch.handler(ctx, given) if given else {"records": 0}
    log.info("changes of %s: %d records read, %d the bridge's own; %s", object_name,
             len(records), len(own), results)
    return {"object": object_name, "records": len(records), "echoes": len(own),
            "watches": results}


def read_records(ctx: WorkerContext, object_name: str, fields: list[str],
                 record_ids: list[str]) -> list[dict]:
    """The current values of the records (deleted ones too), 200 ids per query; ids
    Salesforce no longer has at all are left out."""
    ids = list(dict.fromkeys(i for i in record_ids if is_record_id(i)))
    records: list[dict] = []
    for start in range(0, len(ids), BATCH):
        records += ctx.salesforce.query(
            "SELECT {:literal} FROM {:literal} WHERE Id IN {ids}", ", ".join(fields),
            object_name, ids=ids[start:start + BATCH], include_deleted=True)
    return records
