"""WeChat's job-finish reports → the recipients' statuses and the requests' counts.

TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH pushes come in through the callback like any
event; the inbound worker hands them to :func:`record_job_finish`. The msg id map in
Redis (:mod:`.sent_log`) finds each send without a query; sends it no longer holds are
found by the recipients' msg id field. A report is counted once however often it comes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from connector.context import WorkerContext
from connector.errors import BridgeError
from connector.events import InboundEvent
from connector.messaging.records import read_finish, read_recipients, request_counts, tally
from connector.messaging.sent_log import (
    SendRef,
    SentLog,
    State,
    find_sends,
    first_report,
    forget_report,
)

BY_MSG_ID = ("SELECT {:literal}, {:literal}, {:literal} FROM {:literal} "
             "WHERE {:literal} IN {msg_ids}")


def record_job_finish(ctx: WorkerContext, events: Iterable[InboundEvent]
                      ) -> dict[str, Any]:
    """Apply TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH events (``InboundEvent`` s; others
    are ignored): their recipients become delivered or failed, each request's delivered
    count grows by what WeChat delivered, and a request some of whose recipients failed
    after sending has its sent and failed counts taken again from its recipients (so
    they agree however late the reports come). A report is counted once however often
    it comes.

    Raises:
        RetriableError, FatalError: Salesforce refused the writes as a whole (the
            reports are not counted; a retry applies them).
    """
    reports = [rep for rep in map(read_finish, events) if rep is not None]
    if not reports:
        return {"reports": 0, "recipients": 0, "unknown": []}
    r, f = ctx.mapping.messages.recipient, ctx.mapping.messages.request
    refs: dict[tuple[str, str], SendRef] = {}
    for account in {rep.account for rep in reports}:
        ids = [rep.msg_id for rep in reports if rep.account == account]
        refs.update({(account, m): ref for m, ref in find_sends(ctx.redis, account, ids).items()})
    missing = sorted({rep.msg_id for rep in reports if (rep.account, rep.msg_id) not in refs})
    if missing:  # the map expired or Redis was lost: the recipients' field knows
        found: dict[str, tuple[str, list[str]]] = {}
        for row in ctx.salesforce.query_in(BY_MSG_ID, r.message, r.openid, r.msg_id,
                                           r.object, r.msg_id, split="msg_ids",
                                           msg_ids=missing):
            entry = found.setdefault(str(row[r.msg_id]), (str(row[r.message]), []))
            entry[1].append(str(row[r.openid]))
        for rep in reports:
            if rep.msg_id in found and (rep.account, rep.msg_id) not in refs:
                message, openids = found[rep.msg_id]
                refs[(rep.account, rep.msg_id)] = SendRef(message, tuple(openids), rep.kind)
    rows, delivered, counted, recount = [], {}, [], set()
    now = time.time()
    for rep in reports:
        ref = refs.get((rep.account, rep.msg_id))
        if ref is None or not first_report(ctx.redis, rep.account, rep.msg_id):
            continue
        counted.append(rep)
        delivered[ref.message_id] = delivered.get(ref.message_id, 0) + rep.delivered
        if rep.status is None:
            continue
        if rep.status == "failed":  # sent, then not delivered: the request's counts move
            recount.add(ref.message_id)
        openids = [rep.openid] if rep.kind == "template" and rep.openid in ref.openids \
            else list(ref.openids)
        SentLog(ctx.redis, ref.message_id).record(
            {o: State(rep.status, now, rep.msg_id, reason=rep.reason) for o in openids})
        rows += [{r.key: f"{ref.message_id}:{o}", r.message: ref.message_id, r.openid: o,
                  r.status: rep.status, r.reason: rep.reason, r.msg_id: rep.msg_id}
                 for o in openids]
    added: dict[str, int] = {}
    try:
        if rows:
            ctx.salesforce.upsert_many(r.object, r.key, rows)
        totals: dict[str, dict[str, Any]] = {}
        for message_id, count in delivered.items():
            added[message_id] = count
            totals[message_id] = {
                "Id": message_id,
                f.delivered: SentLog(ctx.redis, message_id).add_delivered(count)}
        for message_id in sorted(recount):  # from the recipients, as the send counts them
            statuses = [str(row.get(r.status))
                        for row in read_recipients(ctx.salesforce, r, message_id)]
            totals.setdefault(message_id, {"Id": message_id}).update(
                request_counts(tally(statuses), f))
        if totals:
            ctx.salesforce.update_many(f.object, list(totals.values()))
    except BridgeError:  # not applied: a retry (or replay) must count the reports again
        for rep in counted:
            forget_report(ctx.redis, rep.account, rep.msg_id)
        for message_id, count in added.items():
            SentLog(ctx.redis, message_id).add_delivered(-count)
        raise
    return {"reports": len(counted), "recipients": len(rows),
            "unknown": [rep.msg_id for rep in reports
                        if (rep.account, rep.msg_id) not in refs]}
