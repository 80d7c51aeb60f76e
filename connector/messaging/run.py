"""One message request, end to end: what ``connector messages send`` and the send job
(``jobs.messages.send_request``) run.

:func:`run_request` reads the request (one query), marks it Sending and clears "send
now", finds its recipients (:mod:`.audience`), decides and sends (:mod:`.sender`),
upserts one recipient record each by its key (sObject Collections), and writes the
request's status and counts. A rerun sends nobody twice: the request's sent log
(:mod:`.sent_log`) and its recipient records say who was sent; recipients skipped before
(quota, window) are tried again. One run per request at a time (a Redis lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.context import WorkerContext
from connector.errors import BridgeError, FatalError, RetriableError
from connector.locks import holding
from connector.messaging.audience import BY_ID, Audience, select_columns
from connector.messaging.records import read_recipients, recipient_row, request_counts, tally
from connector.messaging.rules import MessageRequest, Outcome, RequestError, screen
from connector.messaging.sender import Sender
from connector.messaging.sent_log import DONE, SentLog
from mappings.messages_section import RecipientFields

log = logging.getLogger(__name__)

# One run per request: the lock outlives the longest run, the send job's timeout of 30
# minutes (jobs/queues.py, MESSAGE_TIMEOUT), by a minute.
LOCK_SECONDS = 31 * 60


@dataclass
class Summary:
    """What one run did: the outcomes it recorded now, and the request's totals."""

    message: str
    status: str
    new: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)  # this run's skip reasons, counted

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status, "new": self.new,
                "totals": self.totals, "error": self.error, "skipped": self.skipped}

    def skip_reasons(self) -> str:
        """This run's skips as a reader takes them: "1 not a follower (43004)"."""
        return "; ".join(f"{count} {why}" for why, count in sorted(self.skipped.items()))


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
    with holding(ctx.redis, f"bridge:message:{record['Id']}:lock", ttl=LOCK_SECONDS) as held:
        if not held:
            raise RetriableError(f"message request {record['Id']} is being sent by another "
                                 "worker", retry_after=30)
        return run.run(record)


def mark_failed(ctx: WorkerContext, message_id: str, error: BridgeError) -> None:
    """Say on the request that it failed, and why (with the system's code, fields and
    request id), if Salesforce answers now; the job's failure is kept either way."""
    fields = ctx.mapping.messages.request
    try:
        ctx.salesforce.update(fields.object, message_id, {
            fields.status: "Failed", fields.error: str(error)})
    except BridgeError:
        log.exception("message request %s: could not mark it Failed", message_id)


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
        skipped = dict(tally(o.reason or "no reason recorded" for o in outcomes
                             if o.status == "skipped"))
        return Summary(request.id, status, new, dict(totals), error, skipped)

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
        rows = read_recipients(self.ctx.salesforce, self.rec_fields, message_id)
        return {str(row[self.rec_fields.key]): row for row in rows}

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
