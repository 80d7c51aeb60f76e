"""Codes asked for from Salesforce: an admin ticks a record's request flag (the object's
``qr.objects.<Object>.request_field``, e.g. ``WeChat_QR_Requested__c``) and the poller
makes the code.

:func:`poll_requested` queries the flagged records of every configured object;
:func:`create_requested` makes the codes of records the change poller already read. Each
flagged record gets its code (:func:`connector.qr.codes.create_code`) and its flag cleared.
A failure is logged and kept in Redis (:func:`failed_requests`, ``connector qr list
--failed``) and the flag stays set, so nothing is lost: the record is tried again on a
later poll — at once after a transient failure, and after an admin edits the record
(its ``SystemModstamp`` changes) when the failure needs a fix.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError
from connector.qr.codes import create_code
from connector.qr.key_prefixes import UnknownPrefix, object_of
from connector.qr.registry import QrCode
from connector.qr.rules import QrRequestError

log = logging.getLogger(__name__)

FAILED_KEY = "qr:requests:failed"  # hash: record Id -> JSON {reason, at, stamp, retry}
POLL_LIMIT = 200


@dataclass
class RequestSummary:
    """What one round did: codes ``made``, codes that ``existed`` already (flag cleared),
    ``failed`` (record Id → reason), ``held`` (failed earlier and unchanged since),
    ``skipped`` (not flagged)."""

    made: list[QrCode] = field(default_factory=list)
    existed: list[QrCode] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"made": [c.scene for c in self.made], "existed": [c.scene for c in self.existed],
                "failed": dict(self.failed), "held": list(self.held),
                "skipped": list(self.skipped)}


def create_requested(ctx: WorkerContext, records: list[dict[str, Any]]) -> RequestSummary:
    """Make the codes of the flagged ``records`` (dicts with ``Id``, the request flag,
    and ideally ``SystemModstamp`` and ``attributes.type``, as a query returns them).

    Never raises for one record: its failure is in the summary, the log and Redis.
    """
    summary = RequestSummary()
    for record in records:
        record_id = str(record.get("Id") or "")
        try:
            flag = _request_field(ctx, record)
        except (QrRequestError, UnknownPrefix, BridgeError) as exc:
            _fail(ctx, summary, record, exc)
            continue
        if flag is None or record.get(flag) is not True:
            summary.skipped.append(record_id)
            continue
        if _held(ctx, record):
            summary.held.append(record_id)
            continue
        try:
            code = create_code(ctx, record_id)
        except (QrRequestError, BridgeError) as exc:
            _fail(ctx, summary, record, exc)
            continue
        ctx.redis.hdel(FAILED_KEY, record_id)
        (summary.made if code.created else summary.existed).append(code)
    return summary


def poll_requested(ctx: WorkerContext, *, limit: int = POLL_LIMIT) -> RequestSummary:
    """Find the flagged records of each object under ``qr.objects`` with a
    ``request_field`` (one query each, oldest change first) and make their codes.

    Raises:
        BridgeError: a query failed (the records stay flagged for the next poll).
    """
    records = []
    for obj, config in ctx.mapping.qr.objects.items():
        if not config.request_field:
            continue
        rows = ctx.salesforce.query(
            "SELECT Id, SystemModstamp, {flag:literal} FROM {obj:literal} WHERE "
            "{flag:literal} = true ORDER BY SystemModstamp LIMIT {limit:literal}",
            flag=config.request_field, obj=obj, limit=str(int(limit)))
        records += [{**row, "attributes": {"type": obj}} for row in rows]
    summary = create_requested(ctx, records)
    if records:
        log.info("QR code requests: %s", summary.to_dict())
    return summary


def failed_requests(redis: Redis) -> dict[str, dict[str, Any]]:
    """The kept failures: record Id → ``{reason, at, stamp, retry}``."""
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v)
            for k, v in redis.hgetall(FAILED_KEY).items()}


def _request_field(ctx: WorkerContext, record: dict[str, Any]) -> str | None:
    obj = (record.get("attributes") or {}).get("type")
    if not obj:
        obj = object_of(str(record.get("Id") or "")[:18], ctx.salesforce, ctx.redis)
    config = ctx.mapping.qr.objects.get(obj)
    return config.request_field if config is not None else None


def _held(ctx: WorkerContext, record: dict[str, Any]) -> bool:
    """True when the record failed for a reason only a fix cures, and nobody changed it
    since (its SystemModstamp is the one that failed)."""
    kept = ctx.redis.hget(FAILED_KEY, str(record.get("Id")))
    if kept is None or not record.get("SystemModstamp"):
        return False
    kept = json.loads(kept)
    return not kept["retry"] and kept["stamp"] == record["SystemModstamp"]


def _fail(ctx: WorkerContext, summary: RequestSummary, record: dict[str, Any],
          exc: Exception) -> None:
    record_id = str(record.get("Id") or "")
    reason = str(exc)
    summary.failed[record_id] = reason
    log.warning("QR code request of %s failed (the flag stays set): %s", record_id, reason)
    ctx.redis.hset(FAILED_KEY, record_id, json.dumps({
        "reason": reason, "at": int(time.time()), "stamp": record.get("SystemModstamp"),
        "retry": isinstance(exc, RetriableError)}))
