"""WeChat's job-finish reports → the recipients' statuses and the requests' counts.

TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH pushes come in through the callback like any
event; the inbound worker hands them to :func:`record_job_finish`. Redis (:mod:`.sent_log`)
finds each send without a query: a mass job by its MsgID, a template message by its
MsgID *and* its recipient, oldest send first (a template's MsgID is not unique: reports
with MsgID 0 have been seen when ``client_msg_id`` is set). Sends Redis no longer holds
are found by the recipients' msg id field. A report is counted once however often it
comes (:attr:`~connector.messaging.records.FinishReport.key`), and a second report for
the same recipient is a report of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from connector.context import WorkerContext
from connector.errors import BridgeError
from connector.events import InboundEvent
from connector.messaging.records import (
    FinishReport,
    read_finish,
    read_recipients,
    request_counts,
    tally,
)
from connector.messaging.sent_log import (
    SendRef,
    SentLog,
    State,
    find_sends,
    first_report,
    forget_report,
    give_back_template_send,
    take_template_send,
)

BY_MSG_ID = ("SELECT {:literal}, {:literal}, {:literal}, {:literal} FROM {:literal} "
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
    matched, taken, unknown = _match(ctx, reports)
    r, f = ctx.mapping.messages.recipient, ctx.mapping.messages.request
    rows, delivered, recount = [], {}, set()
    now = time.time()
    for rep, ref in matched:
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
        for rep, _ in matched:
            forget_report(ctx.redis, rep.account, rep.kind, rep.key)
        for rep, message_id in taken:
            give_back_template_send(ctx.redis, rep.account, rep.msg_id, str(rep.openid),
                                    message_id)
        for message_id, count in added.items():
            SentLog(ctx.redis, message_id).add_delivered(-count)
        raise
    return {"reports": len(matched), "recipients": len(rows), "unknown": unknown}


def _match(ctx: WorkerContext, reports: list[FinishReport]
           ) -> tuple[list[tuple[FinishReport, SendRef]], list[tuple[FinishReport, str]],
                      list[str]]:
    """Each report not counted before, with its send: ``(matched, taken, unknown)``,
    ``taken`` the template sends taken from Redis (to give back if the writes fail),
    ``unknown`` the msg ids of reports whose send nobody knows (not counted)."""
    mass: dict[tuple[str, str], SendRef] = {}
    for account in {rep.account for rep in reports if rep.kind == "mass"}:
        ids = [rep.msg_id for rep in reports if rep.account == account and rep.kind == "mass"]
        mass.update({(account, m): ref for m, ref in find_sends(ctx.redis, account, ids).items()})
    matched, taken, missing = [], [], []
    for rep in reports:
        if not first_report(ctx.redis, rep.account, rep.kind, rep.key):
            continue  # counted before: WeChat's resend, or a replay
        ref = mass.get((rep.account, rep.msg_id))
        if rep.kind == "template" and rep.openid:
            message_id = take_template_send(ctx.redis, rep.account, rep.msg_id, rep.openid)
            if message_id is not None:
                taken.append((rep, message_id))
                ref = SendRef(message_id, (rep.openid,), "template")
        if ref is None:
            missing.append(rep)
        else:
            matched.append((rep, ref))
    found = _sends_in_salesforce(ctx, missing)
    unknown = []
    for rep in missing:
        ref = found(rep)
        if ref is None:  # not counted: a replay once Salesforce knows the send applies it
            forget_report(ctx.redis, rep.account, rep.kind, rep.key)
            unknown.append(rep.msg_id)
        else:
            matched.append((rep, ref))
    return matched, taken, unknown


def _sends_in_salesforce(ctx: WorkerContext, reports: list[FinishReport]):
    """A lookup, report → its send, from the recipients' msg id field (one query, cut by
    URI length), for
    sends Redis no longer holds (the map expired, or Redis was lost). A template report
    takes its recipient's row, the one still ``sent`` if the msg id is on several."""
    r = ctx.mapping.messages.recipient
    rows: list[dict] = []
    if reports:
        rows = ctx.salesforce.query_in(BY_MSG_ID, r.message, r.openid, r.msg_id, r.status,
                                       r.object, r.msg_id, split="msg_ids",
                                       msg_ids=sorted({rep.msg_id for rep in reports}))

    def find(rep: FinishReport) -> SendRef | None:
        same = [row for row in rows if str(row[r.msg_id]) == rep.msg_id]
        if rep.kind == "template":
            mine = [row for row in same if str(row[r.openid]) == rep.openid]
            mine.sort(key=lambda row: row.get(r.status) != "sent")  # still sent: first
            return SendRef(str(mine[0][r.message]), (str(rep.openid),), "template") \
                if mine else None
        if not same:
            return None
        return SendRef(str(same[0][r.message]), tuple(str(row[r.openid]) for row in same
                                                      if row[r.message] == same[0][r.message]),
                       rep.kind)

    return find
