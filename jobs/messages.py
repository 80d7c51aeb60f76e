"""Messages from Salesforce: the send job, its dispatch, and WeChat's job-finish reports.

- :func:`dispatch_requests` is the change poller's handler for message requests (see
  :func:`message_watches`): each request with "send now" ticked gets a
  :func:`send_request` job on the ``messages`` queue, its id made from the record's
  SystemModstamp, so repeated notices of one tick add one job.
- :func:`send_request` (the job) and :func:`run_request` (the same, for the CLI): read
  the request (one query), mark it Sending and clear "send now", find its recipients
  (``connector/audience.py``), decide and send (``jobs/message_sends.py``), upsert one
  recipient record each by its key (sObject Collections), and write the request's
  status and counts. A rerun sends nobody twice: the request's Redis sent log and its
  recipient records say who was sent; recipients skipped before (quota, window) are
  tried again.
- :func:`record_job_finish` turns TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH events into
  recipient statuses (delivered, failed) and the request's delivered count; the inbound
  worker calls it. The msg id map in Redis finds each send without a query; sends it no
  longer holds are found by the recipients' msg id field.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError

from connector.audience import BY_ID, Audience, select_columns
from connector.errors import BridgeError, FatalError, RetriableError
from connector.message_records import (
    read_finish,
    recipient_row,
    request_counts,
    tally,
)
from connector.messaging import MessageRequest, Outcome, RequestError, screen
from connector.sent_log import (
    DONE,
    SendRef,
    SentLog,
    State,
    find_sends,
    first_report,
    forget_report,
)
from jobs.context import WorkerContext, get_context
from jobs.message_sends import Sender
from jobs.retry import MAX_RETRIES, retry_delay, with_jitter
from mappings.messages_section import RecipientFields

log = logging.getLogger(__name__)

MESSAGES = "messages"
JOB_TIMEOUT = 1800  # a mass send to 10,000s and their recipient records
KEEP_SECONDS = 3600
LOCK_SECONDS = JOB_TIMEOUT + 60
RECIPIENT_QUERY = ("SELECT {:literal}, {:literal}, {:literal}, {:literal}, {:literal} "
                   "FROM {:literal} WHERE {:literal} = {message}")
BY_MSG_ID = ("SELECT {:literal}, {:literal}, {:literal} FROM {:literal} "
             "WHERE {:literal} IN {msg_ids}")
_UNLOCK = ("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
           "end return 0")


def messages_queue(connection: Redis) -> Queue:
    return Queue(MESSAGES, connection=connection)


# -- dispatch ---------------------------------------------------------------------------

def message_watches(ctx: WorkerContext) -> list[Any]:
    """The watch of message requests for ``jobs/watches.py``: changes of the request
    object with "send now" ticked go to :func:`dispatch_requests`."""
    from jobs.watches import Watch

    fields = ctx.mapping.messages.request
    return [Watch(name="message_requests", object=fields.object,
                  fields=(fields.send, fields.status), handler=dispatch_requests)]


def enqueue_request(connection: Redis, message_id: str, stamp: str = "") -> str | None:
    """Enqueue :func:`send_request`; the job id ``message-<Id>-<digest of stamp>`` keeps
    one job per tick. Returns the id, or None when that job exists already."""
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    job_id = f"message-{message_id}-{digest}"
    try:
        messages_queue(connection).enqueue(
            "jobs.messages.send_request", message_id, job_id=job_id, unique=True,
            result_ttl=KEEP_SECONDS, failure_ttl=30 * 86400, job_timeout=JOB_TIMEOUT,
            description=f"message request {message_id}")
    except DuplicateJobError:
        return None
    return job_id


def dispatch_requests(ctx: WorkerContext, records: list[dict]) -> dict[str, Any]:
    """The change handler: a send job for each request whose "send now" is ticked."""
    fields = ctx.mapping.messages.request
    enqueued, waiting = [], 0
    for record in records:
        if record.get("IsDeleted") or not record.get(fields.send):
            continue
        stamp = str(record.get("SystemModstamp") or record.get("LastModifiedDate") or "")
        job_id = enqueue_request(ctx.redis, str(record["Id"]), stamp)
        if job_id is None:
            waiting += 1
        else:
            enqueued.append(job_id)
    return {"enqueued": enqueued, "already_queued": waiting}


# -- the send job -----------------------------------------------------------------------

@dataclass
class Summary:
    """What one run did: the outcomes it recorded now, and the request's totals."""

    message: str
    status: str
    new: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status, "new": self.new,
                "totals": self.totals, "error": self.error}


def send_request(message_id: str) -> dict[str, Any] | Retry:
    """The job: send the request ``message_id``.

    Raises:
        FatalError: the request cannot be sent as it is (its error field says why).
    """
    ctx = get_context()
    job = get_current_job()
    retries_done = (job.number_of_retries or 0) if job else 0
    try:
        return run_request(ctx, message_id).as_dict()
    except RetriableError as error:
        delay = retry_delay(error, retries_done)
        if delay is None:
            gave_up = FatalError(f"gave up after {MAX_RETRIES} retries: {error}",
                                 system=error.system, code=error.code)
            fields = ctx.mapping.messages.request
            try:  # say so on the request, if Salesforce answers now
                ctx.salesforce.update(fields.object, message_id, {
                    fields.status: "Failed", fields.error: gave_up.message})
            except BridgeError:
                log.exception("message request %s: could not mark it Failed", message_id)
            raise gave_up from None
        log.warning("message request %s will be retried in %d s: %s", message_id, delay,
                    error)
        return Retry(max=MAX_RETRIES + 1, interval=with_jitter(delay))


def run_request(ctx: WorkerContext, message_id: str, *,
                clock: Callable[[], float] = time.time) -> Summary:
    """Send one request (what the job does; the CLI calls it directly).

    Raises:
        RetriableError: Salesforce, WeChat or Redis failed for now (what was sent is
            recorded; a rerun continues).
        FatalError: the request is not sendable (its error field says why).
    """
    run = _Run(ctx, clock)
    record = run.read(message_id)
    # One run per request at a time (by its 18-character Id, however it was given).
    lock, token = f"bridge:message:{record['Id']}:lock", uuid.uuid4().hex
    if not ctx.redis.set(lock, token, nx=True, ex=LOCK_SECONDS):
        raise RetriableError(f"message request {record['Id']} is being sent by another "
                             "worker", retry_after=30)
    try:
        return run.run(record)
    finally:
        ctx.redis.eval(_UNLOCK, 1, lock, token)


class _Run:
    def __init__(self, ctx: WorkerContext, clock: Callable[[], float]) -> None:
        self.ctx, self.clock = ctx, clock
        self.req_fields = ctx.mapping.messages.request
        self.rec_fields: RecipientFields = ctx.mapping.messages.recipient

    def read(self, message_id: str) -> dict[str, Any]:
        """The request record (one query).

        Raises:
            FatalError: no such record.
        """
        f = self.req_fields
        columns = f.read_fields()
        rows = self.ctx.salesforce.query(BY_ID.replace("{}", select_columns(columns)),
                                         *columns, f.object, record=message_id)
        if not rows:
            raise FatalError(f"no {f.object} record has the Id {message_id}",
                             code="NOT_FOUND")
        return rows[0]

    def run(self, record: dict[str, Any]) -> Summary:
        ctx, f = self.ctx, self.req_fields
        try:
            request = MessageRequest.from_record(record, f)
            account = self._account(request)
        except RequestError as error:
            self._write_request(str(record["Id"]), {f.status: "Failed",
                                                    f.error: error.message, f.send: False})
            raise
        self._write_request(request.id, {f.status: "Sending", f.send: False, f.error: None})
        sender: Sender | None = None
        decided: list[Outcome] = []
        try:
            wechat = ctx.wechat.for_account(request.account)
            recipients = Audience(ctx.salesforce, wechat, ctx.mapping, account).recipients(
                request)
            existing = self._existing(request.id)
            sent_log = SentLog(ctx.redis, request.id)
            states = sent_log.states()
            done = {o for o, s in states.items() if s.status in DONE} | {
                str(r[self.rec_fields.openid]) for r in existing.values()
                if r.get(self.rec_fields.openid) and self._was_sent(r)}
            tried, decided = screen(recipients, done)
            stale = {str(r.openid): states[str(r.openid)] for r in tried
                     if str(r.openid) in states}
            fresh = [r for r in tried if str(r.openid) not in stale]
            sender = Sender(request, wechat, ctx.redis, sent_log, account=account,
                            account_type=ctx.settings.WECHAT_ACCOUNT_TYPE, clock=self.clock)
            sender.send(fresh, stale, {str(r.openid): r for r in tried})
        except RetriableError:
            if sender is not None:  # keep what went out before the failure
                self._record(request, decided + sender.outcomes, existing, sent_log)
            raise  # the job retries; the request stays Sending meanwhile
        except BridgeError as error:
            self._write_request(request.id, {f.status: "Failed", f.error: error.message})
            raise
        outcomes = decided + sender.outcomes
        totals, save_error = self._record(request, outcomes, existing, sent_log)
        error = sender.fatal.message if sender.fatal else save_error
        status = "Failed" if sender.fatal else "Done"
        self._write_request(request.id, {f.status: status, f.error: error,
                                         **request_counts(totals, f)})
        new = dict(tally(o.status for o in outcomes))
        log.info("message request %s (%s to %s): %s", request.id, request.channel,
                 request.target, new)
        if sender.fatal:
            raise sender.fatal
        return Summary(request.id, status, new, dict(totals), error)

    def _account(self, request: MessageRequest) -> str:
        """The sending account's original id (the key of its quotas and windows)."""
        settings = self.ctx.settings
        if request.account and not self.ctx.wechat.knows(request.account):
            field = self.req_fields.account
            raise RequestError(f"{field} is {request.account}, an account this deployment "
                               "does not serve; use one of WECHAT_ORIGINAL_ID and "
                               "WECHAT_ACCOUNTS, or leave it blank", field)
        return request.account or settings.WECHAT_ORIGINAL_ID or settings.WECHAT_APP_ID

    def _existing(self, message_id: str) -> dict[str, dict]:
        r = self.rec_fields
        rows = self.ctx.salesforce.query(RECIPIENT_QUERY, r.key, r.openid, r.status,
                                         r.reason, r.msg_id, r.object, r.message,
                                         message=message_id)
        return {str(row[r.key]): row for row in rows}

    def _was_sent(self, row: dict) -> bool:
        """Sent before, per its record: sent or delivered, or failed after WeChat took it
        (a msg id): such a follower is never sent the request again."""
        status = row.get(self.rec_fields.status)
        return status in ("sent", "delivered") or (
            status == "failed" and bool(row.get(self.rec_fields.msg_id)))

    def _record(self, request: MessageRequest, outcomes: list[Outcome],
                existing: dict[str, dict], sent_log: SentLog) -> tuple[Any, str | None]:
        """Upsert the recipients whose record changes; the request's totals, and a note
        when some records could not be saved."""
        r = self.rec_fields
        # A job-finish report may have come in while sending: it is the newer news.
        reported = sent_log.states([str(o.recipient.openid) for o in outcomes
                                    if o.status == "sent"])
        rows = {}
        for outcome in outcomes:
            state = reported.get(str(outcome.recipient.openid))
            if outcome.status == "sent" and state and state.status in ("delivered", "failed"):
                outcome = Outcome(outcome.recipient, state.status, state.reason,
                                  outcome.msg_id, outcome.sent_at)
            row = recipient_row(request.id, outcome, r)
            before = existing.get(row[r.key])
            if before and outcome.status == "skipped" and before.get(r.status) == "skipped" \
                    and before.get(r.reason) == row[r.reason]:
                continue  # the same skip again: nothing to write
            rows[row[r.key]] = row
        results = self.ctx.salesforce.upsert_many(r.object, r.key, list(rows.values())) \
            if rows else []
        failed = [res for res in results if not res.success]
        statuses = {k: str(row.get(r.status)) for k, row in existing.items()}
        statuses.update({k: str(row[r.status]) for k, row in rows.items()})
        note = None
        if failed:
            first = failed[0].errors[0] if failed[0].errors else "unknown error"
            note = (f"{len(failed)} recipient record(s) could not be saved "
                    f"({r.object}): {first}")
            log.error("message request %s: %s", request.id, note)
        return tally(statuses.values()), note

    def _write_request(self, record_id: str, values: dict[str, Any]) -> None:
        self.ctx.salesforce.update(self.req_fields.object, record_id, values)


# -- job-finish events --------------------------------------------------------------------

def record_job_finish(ctx: WorkerContext, events: Iterable[Any]) -> dict[str, Any]:
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
        for row in ctx.salesforce.query(BY_MSG_ID, r.message, r.openid, r.msg_id, r.object,
                                        r.msg_id, msg_ids=missing):
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
            statuses = [str(row.get(r.status)) for row in ctx.salesforce.query(
                RECIPIENT_QUERY, r.key, r.openid, r.status, r.reason, r.msg_id, r.object,
                r.message, message=message_id)]
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
