"""A follow-up when it is due: check, send, record (the send job's work,
``jobs.followups.send_follow_up``).

:func:`run_follow_up` does nothing for a follow-up that is no longer pending (cancelled by
an unfollow, sent by an earlier run). Otherwise it checks, in order: its rule is still in
the mapping; the follower still follows (``user/info``, read fresh); no ``unless``
condition holds on the follower's person (its follower record and person read now, by Id,
only the fields the rule names). Then it picks the channel: a customer-service ``text``
when :func:`connector.messaging.windows.spend` grants a message of an open window, else
the ``template`` if the rule has one, else it is skipped (window closed). WeChat is
called once, after the follow-up is claimed ``sending`` (a run that dies in the call
leaves it so, and it is never sent again). The outcome is recorded like a message
request's: a ``WeChat_Message__c`` (channel, target follower, content, status, counts)
and its ``WeChat_Message_Recipient__c`` with the outcome (``messages:`` section).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError
from connector.follower import Follower
from connector.followups import store
from connector.followups.rules import blocking, template_data
from connector.messaging import windows
from connector.messaging.audience import select_columns
from connector.messaging.records import recipient_row, request_counts, tally
from connector.messaging.rules import (
    INTERRUPTED,
    UNFOLLOWED,
    Outcome,
    Recipient,
    error_outcome,
    reason,
    window_skip,
)
from mappings.follow_ups_section import FollowUpRule

log = logging.getLogger(__name__)

BY_FIELD = "SELECT {} FROM {:literal} WHERE {:literal} = {value}"
BY_ID = "SELECT {} FROM {:literal} WHERE Id = {record}"
CONDITION = "condition"


def run_follow_up(ctx: WorkerContext, follow_up_id: str, *,
                  clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Send the follow-up ``follow_up_id`` if it is still due; what happened.

    Raises:
        RetriableError: WeChat, Salesforce or Redis failed for now; nothing was sent
            twice (a rerun resumes: checks again, or records what was sent).
        FatalError: from the gateways (configuration, a refused record).
    """
    state = store.read(ctx.redis, follow_up_id)
    if state is None:
        return {"id": follow_up_id, "status": "gone"}
    if state.status == "sending":  # a run died inside WeChat's call: maybe sent
        store.move(ctx.redis, follow_up_id, "sending", "failed", reason(
            INTERRUPTED, "an earlier run stopped while sending it; it may or may not have "
            "arrived, so it is not sent again"))
        state = store.read(ctx.redis, follow_up_id) or state
    if state.status != "pending":
        if state.status in ("sent", "skipped", "failed") and not state["recorded"]:
            _record(ctx, state)
        return {"id": follow_up_id, "status": state.status, "reason": state["reason"]}
    return _Due(ctx, state, clock).run()


class _Due:
    def __init__(self, ctx: WorkerContext, state: store.State,
                 clock: Callable[[], float]) -> None:
        self.ctx, self.state, self.clock = ctx, state, clock
        self.account, self.openid = state["account"], state["openid"]
        self.mapping = ctx.mapping.for_account(self.account)

    def _end(self, status: str, why: str, **fields: str | int) -> dict[str, Any]:
        store.note(self.ctx.redis, self.state.id, **fields)
        store.move(self.ctx.redis, self.state.id, "pending", status, why)
        log.info("follow-up %s (%s to %s): %s %s", self.state.id, self.state["rule"],
                 self.openid, status, why)
        return {"id": self.state.id, "status": status, "reason": why}

    def run(self) -> dict[str, Any]:
        rule = next((r for r in self.ctx.mapping.follow_ups if r.name == self.state["rule"]),
                    None)
        if rule is None:
            return self._end("cancelled", f"rule: no follow-up named {self.state['rule']!r} "
                             "in the mapping any more")
        wechat = self.ctx.wechat.for_account(self.account)
        wechat.forget(self.openid)  # the profile as WeChat has it now, not as cached
        try:
            follower = wechat.get_profile(self.openid)
        except RetriableError:
            raise
        except BridgeError as error:  # WeChat does not know the OpenID (any more)
            return self._end("cancelled", reason(UNFOLLOWED, error.message))
        if not follower.subscribed:
            return self._end("cancelled", reason(UNFOLLOWED, "the follower left the "
                                                 "account before it was due"))
        follower_id, persons = self._persons(rule)
        condition = blocking(rule.unless, persons)
        if condition is not None:
            return self._end("cancelled", reason(
                CONDITION, f"{condition.object}.{condition.field} is "
                f"{json.dumps(condition.equals)} on the follower's person"))
        person = persons.get("Contact") or persons.get("Lead")
        return self._send(rule, follower, follower_id, person)

    def _persons(self, rule: FollowUpRule) -> tuple[str | None, dict[str, dict]]:
        """The follower record's Id, and the rows of its linked persons whose fields the
        rule reads (one query each, by Id)."""
        f = self.mapping.follower
        links = dict(f.link)
        columns = list(dict.fromkeys(["Id", *links.values()]))
        rows = self.ctx.salesforce.query(BY_FIELD.replace("{}", select_columns(columns)),
                                         *columns, f.object, f.external_id, value=self.openid)
        if not rows:
            return None, {}
        row, persons = rows[0], {}
        for obj, names in rule.person_fields().items():
            person_id = row.get(links.get(obj, ""))
            if not person_id:
                continue
            fields = list(dict.fromkeys(["Id", *names]))
            found = self.ctx.salesforce.query(BY_ID.replace("{}", select_columns(fields)),
                                              *fields, obj, record=person_id)
            if found:
                persons[obj] = found[0]
        return str(row["Id"]), persons

    def _send(self, rule: FollowUpRule, follower: Follower, follower_id: str | None,
              person: dict | None) -> dict[str, Any]:
        redis, fid = self.ctx.redis, self.state.id
        recipient = Recipient(self.openid, follower_id, account=self.account)
        channel, spent = "template", None
        if rule.text is not None:
            spent = windows.spend(redis, self.account, self.openid, self.clock())
            if spent.granted:
                channel = "customer_service"
        if channel == "template" and rule.template is None:
            outcome = window_skip(recipient, spent)
            return self._finish(outcome, "customer_service", rule, None, follower_id)
        data = template_data(rule.template, follower, person) if channel == "template" \
            else None
        if not store.move(redis, fid, "pending", "sending"):
            return {"id": fid, "status": "taken"}  # another run has it
        wechat = self.ctx.wechat.for_account(self.account)
        msg_id = None
        try:
            if channel == "customer_service":
                wechat.send_custom(self.openid, {"msgtype": "text",
                                                 "text": {"content": rule.text}})
            else:
                msg_id = wechat.send_template(self.openid, rule.template.id, data or {},
                                              rule.template.url, client_msg_id=fid)
        except RetriableError:
            store.move(redis, fid, "sending", "pending")  # nothing went out: try again
            raise
        except BridgeError as error:
            outcome = error_outcome(recipient, error)
        else:
            outcome = Outcome(recipient, "sent", msg_id=msg_id, sent_at=self.clock())
        return self._finish(outcome, channel, rule, data, follower_id, claimed=True)

    def _finish(self, outcome: Outcome, channel: str, rule: FollowUpRule,
                data: dict | None, follower_id: str | None, *,
                claimed: bool = False) -> dict[str, Any]:
        redis, fid = self.ctx.redis, self.state.id
        store.note(redis, fid, channel=channel, follower_id=follower_id or "",
                   msg_id=outcome.msg_id or "", data=json.dumps(data) if data else "",
                   text=rule.text or "" if channel == "customer_service" else "",
                   template_id=rule.template.id if channel == "template" and rule.template
                   else "", url=(rule.template.url or "") if rule.template else "",
                   sent_at=int(outcome.sent_at or 0))
        store.move(redis, fid, "sending" if claimed else "pending", outcome.status,
                   outcome.reason or "")
        state = store.read(redis, fid) or self.state
        _record(self.ctx, state)
        log.info("follow-up %s (%s to %s): %s by %s %s", fid, rule.name, self.openid,
                 outcome.status, channel, outcome.reason or "")
        return {"id": fid, "status": outcome.status, "channel": channel,
                "reason": outcome.reason}


def _record(ctx: WorkerContext, state: store.State) -> None:
    """The follow-up's message request and recipient records in Salesforce (the request
    is created once: its Id is kept with the follow-up before the recipient is written).

    Raises:
        RetriableError: Salesforce could not be reached (the job retries the recording).
        FatalError: Salesforce refused a record.
    """
    req, rec = ctx.mapping.messages.request, ctx.mapping.messages.recipient
    status = state.status
    message_id = state["message_id"]
    if not message_id:
        values: dict[str, Any] = {
            req.channel: state["channel"] or "customer_service", req.target: "follower",
            req.follower: state["follower_id"] or None, req.status:
            "Failed" if status == "failed" else "Done", req.send: False,
            req.content: state["text"] or None, req.template_id: state["template_id"] or None,
            req.data: state["data"] or None, req.url: state["url"] or None,
            req.error: state["reason"] or None if status == "failed" else None,
            **request_counts(tally([status]), req)}
        if req.account:
            values[req.account] = state["account"]
        message_id = ctx.salesforce.create(req.object, {k: v for k, v in values.items()
                                                        if v is not None})
        store.note(ctx.redis, state.id, message_id=message_id)
    recipient = Recipient(state["openid"], state["follower_id"] or None,
                          account=state["account"])
    outcome = Outcome(recipient, status, state["reason"] or None,  # type: ignore[arg-type]
                      state["msg_id"] or None, float(state["sent_at"] or 0) or None)
    results = ctx.salesforce.upsert_many(rec.object, rec.key,
                                         [recipient_row(message_id, outcome, rec)])
    failed = [r for r in results if not r.success]
    if failed:
        log.error("follow-up %s: its recipient record was not saved: %s", state.id,
                  failed[0].errors)
    store.note(ctx.redis, state.id, recorded=1)
