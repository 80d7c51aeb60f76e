"""Salesforce rows of a message's recipients and counts, and WeChat's job-finish reports
read as recipient statuses (pure, but for :func:`read_recipients`, the one query of a
request's recipient records).

Job-finish events (WeChat pushes them when a send is done):

- ``TEMPLATESENDJOBFINISH``: one per template message, from the recipient, ``MsgID``
  and ``Status`` — ``success``, ``failed:user block`` (the follower refuses the
  account's template messages) or ``failed: system failed``. ``MsgID`` is what the send
  answered, but not unique: with ``client_msg_id`` set, reports with ``MsgID`` 0 have
  been seen, so a report is matched by its MsgID *and* its recipient (FromUserName), and
  told from another report by both and its CreateTime and Status too
  (:attr:`FinishReport.key`).
- ``MASSSENDJOBFINISH``: one per mass job, ``MsgID``, ``Status`` (``send success``,
  ``send fail`` or ``err(<code>)``) and counts: ``TotalCount`` (recipients asked),
  ``FilterCount`` (left after WeChat's own filtering, e.g. of followers past their
  quota), ``SentCount``, ``ErrorCount``. WeChat does not say *which* recipients were
  filtered or failed, so a mass job's recipients become ``delivered`` only when every
  one of them was sent, ``failed`` when the job failed, and otherwise stay ``sent``
  (the request's delivered count still grows by ``SentCount``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connector.events import InboundEvent
from connector.messaging.rules import Outcome, reason
from connector.salesforce import SalesforceGateway
from mappings.messages_section import RecipientFields, RequestFields
from mappings.transforms import unix_to_datetime

TEMPLATE_FINISH, MASS_FINISH = "templatesendjobfinish", "masssendjobfinish"
FINISH_EVENTS = frozenset({TEMPLATE_FINISH, MASS_FINISH})
RECIPIENTS = ("SELECT {:literal}, {:literal}, {:literal}, {:literal}, {:literal} "
              "FROM {:literal} WHERE {:literal} = {message}")


def read_recipients(salesforce: SalesforceGateway, fields: RecipientFields,
                    message_id: str) -> list[dict[str, Any]]:
    """The recipient records of the request ``message_id``: key, OpenID, status, reason
    and msg id of each.

    Raises:
        BridgeError: the query failed (from the gateway).
    """
    r = fields
    return salesforce.query(RECIPIENTS, r.key, r.openid, r.status, r.reason, r.msg_id,
                            r.object, r.message, message=message_id)


def recipient_row(message_id: str, outcome: Outcome, fields: RecipientFields) -> dict:
    """The recipient record to upsert (by ``fields.key``). The reason is written even
    when empty (a follower skipped before and sent now loses the old reason); ids and
    links only when known, so a later, thinner outcome never blanks them."""
    r = outcome.recipient
    row = {fields.key: r.key(message_id), fields.message: message_id,
           fields.status: outcome.status, fields.reason: outcome.reason}
    optional = {fields.openid: r.openid, fields.follower: r.follower_id,
                fields.contact: r.contact_id, fields.lead: r.lead_id,
                fields.msg_id: outcome.msg_id,
                fields.sent_at: unix_to_datetime(outcome.sent_at) if outcome.sent_at
                else None}
    row.update({k: v for k, v in optional.items() if k and v is not None})
    return row


def tally(statuses: Iterable[str]) -> Counter:
    """Recipients per status; ``delivered`` ones also count as ``sent``."""
    counts = Counter(statuses)
    if counts["delivered"]:
        counts["sent"] += counts["delivered"]
    return counts


def request_counts(counts: Counter, fields: RequestFields) -> dict[str, int]:
    """The request's count fields from :func:`tally` (delivered is written by the
    job-finish path alone, which knows what WeChat reported)."""
    return {fields.sent: counts["sent"], fields.skipped: counts["skipped"],
            fields.failed: counts["failed"]}


@dataclass(frozen=True)
class FinishReport:
    """One job-finish event, read: ``status`` for the send's recipients (``delivered``,
    ``failed``, or None: unknown per recipient) with ``reason``, and ``delivered``, how
    many WeChat says it delivered."""

    account: str
    msg_id: str
    kind: str
    status: str | None
    delivered: int
    reason: str | None = None
    openid: str | None = None  # a template job's recipient
    create_time: int = 0
    wechat_status: str = ""  # Status as WeChat wrote it

    @property
    def key(self) -> str:
        """What tells this report from any other, for counting it once: a mass job's
        MsgID is unique; a template report's MsgID is not (0 has been seen), so its
        recipient, CreateTime and Status are part of it. WeChat's resends of one push
        repeat all four."""
        if self.kind == "mass":
            return self.msg_id
        return "\x1f".join((self.msg_id, self.openid or "", str(self.create_time),
                            self.wechat_status))


def _count(event: InboundEvent, name: str) -> int | None:
    value = event.fields.get(name)
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def read_finish(event: InboundEvent) -> FinishReport | None:
    """The report of a job-finish event, or None for any other event (or one without a
    MsgID)."""
    if event.event not in FINISH_EVENTS or not event.msg_id:
        return None
    status = str(event.fields.get("Status") or "").strip()
    if event.event == TEMPLATE_FINISH:
        seen = {"openid": event.openid, "create_time": event.create_time,
                "wechat_status": status}
        if status.lower() == "success":
            return FinishReport(event.account, event.msg_id, "template", "delivered", 1,
                                **seen)
        detail = status.split(":", 1)[-1].strip() or "unknown"
        return FinishReport(event.account, event.msg_id, "template", "failed", 0,
                            reason("wechat", f"WeChat could not deliver it ({detail})"),
                            **seen)
    total, sent = _count(event, "TotalCount"), _count(event, "SentCount") or 0
    if status.lower().replace(" ", "") == "sendsuccess":
        whole = total is not None and sent >= total and not _count(event, "ErrorCount")
        return FinishReport(event.account, event.msg_id, "mass",
                            "delivered" if whole else None, sent)
    return FinishReport(event.account, event.msg_id, "mass", "failed", sent,
                        reason("wechat", f"WeChat's mass job ended with {status or 'no status'}"))
