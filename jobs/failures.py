"""Failed jobs grouped into cards, as the console's sync health page shows them, and what
the card's buttons do (replay, discard).

A card is one kind of failure: the system that answered and its error code (a Salesforce
``REQUIRED_FIELD_MISSING``, a WeChat errcode ``45015``, the bridge's own ``SETTINGS``...).
It counts the failed jobs of every queue alike (inbound events, the way back's changes,
message requests), lists the followers and records they concern, and says what happened
and how to fix it: the failure's own message (``connector/salesforce/errors.py`` and
``connector/wechat/errors.py`` write the fix into it), kept field by field by
:func:`jobs.deaths.keep_failure`; a job failed before that was kept falls back to the
last line of its traceback (:func:`failure_reason`).

Replay is the CLI's (``connector replay``, ``connector sync replay``: :mod:`jobs.replay`);
discard deletes the failed job (its event is not written; a WeChat push is not re-sent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from jobs.deaths import FAILURE, rearm
from jobs.periodic import superseded
from jobs.queues import CHANGES, INBOUND, MESSAGES, changes_queue, inbound_queue, messages_queue
from jobs.replay import replay_changes, replay_failed

QUEUES: dict[str, Callable[[Redis], Queue]] = {
    INBOUND: inbound_queue, CHANGES: changes_queue, MESSAGES: messages_queue}
WHAT = {INBOUND: "inbound event", CHANGES: "way-back change", MESSAGES: "message request"}


# "connector.errors.ConfigurationError: " at the head of a traceback's last line: the
# Python name of the error, which says nothing to an operator the message does not.
_PYTHON_NAME = re.compile(r"^(?:(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*"  # a dotted name
                          r"|[A-Za-z_]\w*(?:Error|Exception|Timeout)): ")  # or a class


def failure_reason(job: Job) -> str:
    """The last line of the failure: the error the job raised, with its code and fields,
    without the Python name of its class (the message says what happened)."""
    result = job.latest_result()
    text = (result.exc_string if result and result.exc_string else "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return _PYTHON_NAME.sub("", lines[-1]) if lines else "gave up (no exception recorded)"


def failed(redis: Redis, queue: Queue) -> list[Job]:
    """The failed jobs of ``queue`` that need an operator, newest first (a periodic
    job's failure that a later run made good is left out)."""
    ids = list(reversed(FailedJobRegistry(queue=queue).get_job_ids()))
    return [job for job in Job.fetch_many(ids, connection=redis)
            if job is not None and not superseded(redis, job)]


class UnknownJob(LookupError):
    """The queue or the failed job is not there (replayed or discarded meanwhile)."""


@dataclass
class FailedItem:
    """One failed job on a card: which queue, what it was for, when it failed."""

    queue: str
    job_id: str
    what: str
    failed_at: str
    followers: list[str] = field(default_factory=list)  # OpenIDs
    records: list[str] = field(default_factory=list)    # Salesforce record ids


@dataclass
class Card:
    """One kind of failure, with every failed job that failed so."""

    system: str
    code: str
    message: str
    fields: list[str] = field(default_factory=list)
    items: list[FailedItem] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.system}:{self.code}"

    @property
    def count(self) -> int:
        return len(self.items)


def _concerns(queue: str, job: Job) -> tuple[list[str], list[str]]:
    """The followers (OpenIDs) and records (ids) a failed job was about."""
    args = job.args or ()
    if queue == INBOUND and args and isinstance(args[0], dict):
        openid = args[0].get("openid")
        return ([str(openid)] if openid else []), []
    if queue == CHANGES and len(args) > 1:
        return [], [str(record) for record in args[1]]
    if queue == MESSAGES and args:
        return [], [str(args[0])]
    return [], []


def _kind(job: Job) -> tuple[dict, str, str]:
    """What was kept of the job's failure, and the system and code of its card."""
    kept = job.meta.get(FAILURE) or {}
    return kept, kept.get("system") or "bridge", kept.get("code") or "UNEXPECTED"


def cards(redis: Redis, limit: int = 200) -> list[Card]:
    """The failed jobs of every queue, grouped by system and code, most frequent first."""
    found: dict[str, Card] = {}
    for name, make in QUEUES.items():
        for job in failed(redis, make(redis))[:limit]:
            kept, system, code = _kind(job)
            card = found.setdefault(f"{system}:{code}", Card(
                system, code, kept.get("message") or failure_reason(job),
                list(kept.get("fields") or [])))
            followers, records = _concerns(name, job)
            card.items.append(FailedItem(name, job.id, job.description or WHAT[name],
                                         str(job.ended_at or "")[:19], followers, records))
    return sorted(found.values(), key=lambda c: (-c.count, c.key))


def request_cards(redis: Redis, limit: int = 200) -> dict[str, tuple[str, str]]:
    """The message requests whose send job failed (the first 15 characters of the
    request's Id) → the system and code of the card the sync health page shows it on."""
    out: dict[str, tuple[str, str]] = {}
    for job in failed(redis, messages_queue(redis))[:limit]:
        _, records = _concerns(MESSAGES, job)
        if records:
            out.setdefault(records[0][:15], _kind(job)[1:])
    return out


def _registry(redis: Redis, queue: str) -> FailedJobRegistry:
    make = QUEUES.get(queue)
    if make is None:
        raise UnknownJob(f"no queue named {queue!r}")
    return FailedJobRegistry(queue=make(redis))


def replay(redis: Redis, queue: str, job_ids: list[str]) -> list[str]:
    """Run the failed jobs ``job_ids`` of ``queue`` again, as ``connector replay`` does.

    Raises:
        UnknownJob: the queue is unknown, or a job is no longer failed.
    """
    registry = _registry(redis, queue)
    waiting = set(registry.get_job_ids())
    missing = [job_id for job_id in job_ids if job_id not in waiting]
    if missing:
        raise UnknownJob(f"not a failed {queue} job (replayed or discarded already?): "
                         f"{', '.join(missing)}")
    if queue == INBOUND:
        return replay_failed(redis, job_ids)
    if queue == CHANGES:
        return replay_changes(redis, job_ids)
    for job_id in job_ids:  # a message request's job: sent again from where it stopped
        rearm(Job.fetch(job_id, connection=redis))
        registry.requeue(job_id)
    return list(job_ids)


def discard(redis: Redis, queue: str, job_ids: list[str]) -> int:
    """Delete the failed jobs ``job_ids`` of ``queue``; returns how many were there.

    Raises:
        UnknownJob: the queue is unknown.
    """
    registry = _registry(redis, queue)
    waiting = set(registry.get_job_ids())
    gone = 0
    for job_id in job_ids:
        if job_id in waiting:
            registry.remove(job_id, delete_job=True)
            gone += 1
    return gone
