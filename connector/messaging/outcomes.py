"""Message requests and their recipients' outcomes, read: what ``connector messages
status`` prints and the console's campaigns page shows.

Read-only and web-safe: it imports neither client library nor the worker's context; the
caller hands it a Salesforce gateway (anything with ``query`` and ``query_in``, as
``connector.salesforce.SalesforceGateway``) and, for the waits, Redis. Where it reads:

- the request records (``messages.request``): when (CreatedDate), who asked (the
  record's creator, ``CreatedBy.Name``), the kind and the target, the status and the
  counts the run writes (sent, skipped, failed, delivered); one query for many requests;
- the recipient records (``messages.recipient``) that were skipped or failed, for the
  reasons: a query per group of requests whose skips and failures (by their counts) fit
  ``max_rows`` rows, the smallest first, at most :data:`MAX_REASON_QUERIES` (the counts
  above are whole anyway; a breakdown read from fewer rows says so, ``partial``);
- the send job's wait, from Redis (:func:`~connector.messaging.sent_log.waiting_of`);
- one page of a request's recipients, by Id (keyset pagination: ``Id > last``, so page
  200 of 10,000 recipients costs what page 1 does; SOQL's OFFSET stops at 2,000).

A reason as the run writes it starts with its code (:data:`~connector.messaging.rules.
REASONS`, or ``wechat``): :func:`plain_reason` says it in words, with WeChat's errcode and
what it means when there is one (the words the bridge's errcode table gave the failure,
``connector/wechat/errors.py``, kept in the reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from redis import Redis

from connector.messaging.rules import (
    DUPLICATE,
    INTERRUPTED,
    NO_FOLLOWER,
    QUOTA,
    REFUSED,
    TOO_FEW,
    UNFOLLOWED,
    WINDOW_CLOSED,
    WINDOW_USED,
)
from connector.messaging.sent_log import waiting_of
from mappings.messages_section import RecipientFields, RequestFields

MAX_REQUESTS = 50  # the most recent requests a page shows
MAX_REASON_ROWS = 2000  # skipped or failed recipients a query reads: one page
MAX_REASON_QUERIES = 5  # queries of those a page makes, at most
PAGE_SIZE = 100  # recipients per page of the drill-down

RECENT = "SELECT {:literal} FROM {:literal} ORDER BY CreatedDate DESC, Id DESC LIMIT {limit}"
BY_IDS = "SELECT {:literal} FROM {:literal} WHERE Id IN {ids}"
UNSETTLED = ("SELECT {:literal}, {:literal}, {:literal} FROM {:literal} WHERE {:literal} IN "
             "{ids} AND {:literal} IN ('skipped', 'failed') {:literal}")
PAGE = "SELECT Id, {:literal} FROM {:literal} WHERE {:literal} = {message}"

KINDS = {"template": "template message", "customer_service": "custom message",
         "mass": "mass message"}
# Each skip's reason in words (the code is the reason's head: connector/messaging/rules.py).
WORDS = {
    UNFOLLOWED: "no longer follows the account",
    QUOTA: "had used up the mass messages WeChat lets a follower receive this period",
    WINDOW_CLOSED: "had not written to the account in the last 48 hours, so WeChat allows "
                   "no custom message",
    WINDOW_USED: "had received the custom messages WeChat allows until they write again",
    NO_FOLLOWER: "the person has no WeChat follower linked",
    DUPLICATE: "reached through another member already (sent once)",
    TOO_FEW: "a mass message needs at least 2 followers, and this one was alone",
    INTERRUPTED: "an earlier run stopped while sending; not sent again, as it may have "
                 "arrived",
    REFUSED: "turned off the account's template messages",
}
_ERRCODE = re.compile(r"^WeChat (-?\d+): (.*?)(?: \(WeChat said: .*\))?$", re.DOTALL)


class Queries(Protocol):
    """The gateway's reads this module uses (``SalesforceGateway`` has them)."""

    def query(self, template: str, *args: Any, **params: Any) -> list[dict]: ...

    def query_in(self, template: str, *args: Any, split: str, **params: Any
                 ) -> list[dict]: ...


@dataclass(frozen=True)
class Reason:
    """A recipient's reason, read: ``code`` (its head), WeChat's ``errcode`` when it
    came from one, and ``words`` (what happened, plainly)."""

    code: str
    words: str
    errcode: str | None = None


def plain_reason(text: str | None) -> Reason:
    """The reason a run wrote (``quota: 4 mass messages a month ... already received``,
    ``wechat: WeChat 45009: the daily quota ... (WeChat said: ...)``), read."""
    head, _, detail = (text or "").partition(":")
    code, detail = head.strip(), detail.strip()
    if not code:
        return Reason("unknown", "no reason recorded")
    match = _ERRCODE.match(detail)
    if match:
        return Reason(code, WORDS.get(code) or match.group(2), match.group(1))
    return Reason(code, WORDS.get(code) or detail or code)


@dataclass
class OutcomeLine:
    """How many recipients ended ``status`` (skipped or failed) for one reason."""

    status: str
    reason: Reason
    count: int = 0

    @property
    def label(self) -> str:
        """``unfollowed — no longer follows the account``, ``wechat 45009 — …``."""
        code = f"{self.reason.code} {self.reason.errcode}" if self.reason.errcode \
            else self.reason.code
        return f"{code} — {self.reason.words}"


@dataclass
class RequestView:
    """One message request as the console and the CLI show it."""

    id: str
    name: str | None
    created: str | None
    asked_by: str | None
    channel: str | None
    target: str | None
    audience: str | None  # the campaign, follower record or tag it went to
    campaign: str | None
    status: str | None
    send_ticked: bool
    sent: int
    delivered: int
    skipped: int
    failed: int
    error: str | None
    outcomes: list[OutcomeLine] = field(default_factory=list)
    partial: bool = False  # the reasons were read from some of the skips and failures
    waiting: dict | None = None  # {"why", "until"}: the send job waits (Redis)
    failed_job: tuple[str, str] | None = None  # its failed send job's system and code,
    # for the caller that reads the failed jobs (jobs/failures.py)

    @property
    def kind(self) -> str:
        return KINDS.get(self.channel or "", self.channel or "unknown")

    @property
    def recipients(self) -> int:
        """The audience as the run found it: every recipient recorded (delivered ones
        count as sent)."""
        return self.sent + self.skipped + self.failed

    @property
    def pending(self) -> bool:
        """Not sent yet, or not to the end: asked (send ticked), or Sending."""
        return self.status == "Sending" or (self.status == "Requested" and self.send_ticked)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcomes"] = [{"status": o.status, "code": o.reason.code,
                             "errcode": o.reason.errcode, "words": o.reason.words,
                             "count": o.count} for o in self.outcomes]
        data.update(kind=self.kind, recipients=self.recipients, pending=self.pending,
                    reasons={o.label: o.count for o in self.outcomes})
        return data


def _columns(f: RequestFields) -> list[str]:
    names = ["Id", "Name", "CreatedDate", "CreatedBy.Name", f.channel, f.target,
             f.campaign, f.follower, f.tag, f.status, f.send, f.sent, f.delivered,
             f.skipped, f.failed, f.error]
    return list(dict.fromkeys(names))


def _count(value: Any) -> int:
    return int(value or 0)


def _view(row: dict, f: RequestFields) -> RequestView:
    target = row.get(f.target)
    audience = {"campaign": row.get(f.campaign), "follower": row.get(f.follower),
                "tag": row.get(f.tag)}.get(str(target)) if target else None
    creator = row.get("CreatedBy") or {}
    return RequestView(
        id=str(row["Id"]), name=row.get("Name"), created=row.get("CreatedDate"),
        asked_by=creator.get("Name") if isinstance(creator, dict) else None,
        channel=row.get(f.channel), target=target, audience=audience,
        campaign=row.get(f.campaign), status=row.get(f.status),
        send_ticked=bool(row.get(f.send)), sent=_count(row.get(f.sent)),
        delivered=_count(row.get(f.delivered)), skipped=_count(row.get(f.skipped)),
        failed=_count(row.get(f.failed)), error=row.get(f.error))


def read_requests(salesforce: Queries, request: RequestFields, recipient: RecipientFields,
                  redis: Redis | None = None, *, ids: Iterable[str] | None = None,
                  limit: int = MAX_REQUESTS, max_rows: int | None = MAX_REASON_ROWS
                  ) -> list[RequestView]:
    """The requests ``ids`` (or the ``limit`` most recent), newest first, each with its
    outcomes; with ``redis``, whether its send job waits. One query of the requests,
    and one per group of :func:`reason_groups` (at most :data:`MAX_REASON_QUERIES`;
    usually one); with ``max_rows`` None, one that reads every skip and failure (the
    CLI's one request).

    Raises:
        BridgeError: a query failed (from the gateway).
    """
    columns = ", ".join(_columns(request))
    if ids is None:
        rows = salesforce.query(RECENT, columns, request.object, limit=limit)
    else:
        rows = salesforce.query_in(BY_IDS, columns, request.object, split="ids",
                                   ids=sorted(set(ids)))
    views = sorted((_view(row, request) for row in rows),
                   key=lambda v: (v.created or "", v.id), reverse=True)
    _add_outcomes(salesforce, recipient, views, max_rows)
    if redis is not None:
        waits = waiting_of(redis, [v.id for v in views if v.pending])
        for view in views:
            view.waiting = waits.get(view.id)
    return views


def _add_outcomes(salesforce: Queries, r: RecipientFields, views: list[RequestView],
                  max_rows: int | None) -> None:
    """Each request's skips and failures by reason, read in the groups of
    :func:`reason_groups` (one query each)."""
    by_id = {v.id: v for v in views}
    lines: dict[tuple, OutcomeLine] = {}
    for group in reason_groups(views, max_rows):
        cap = f"LIMIT {int(max_rows)}" if max_rows is not None else ""
        rows = salesforce.query_in(UNSETTLED, r.message, r.status, r.reason, r.object,
                                   r.message, r.status, cap, split="ids",
                                   ids=[v.id for v in group])
        for row in rows:
            view = by_id.get(str(row.get(r.message)))
            if view is None:
                continue
            status, reason = str(row.get(r.status)), plain_reason(row.get(r.reason))
            line = lines.setdefault((view.id, status, reason), OutcomeLine(status, reason))
            if line.count == 0:
                view.outcomes.append(line)
            line.count += 1
    for view in views:
        view.outcomes.sort(key=lambda o: (o.status, -o.count, o.label))
        view.partial = sum(o.count for o in view.outcomes) < view.skipped + view.failed


def reason_groups(views: list[RequestView], max_rows: int | None,
                  max_queries: int = MAX_REASON_QUERIES) -> list[list[RequestView]]:
    """The requests with skips or failures, grouped so that each group's rows (by the
    request's own counts) fit one query of ``max_rows``: the fewest first, so one
    request of 10,000 skips leaves the others their reasons; a request with more than
    ``max_rows`` has a query of its own (and its reasons are partial). At most
    ``max_queries`` groups (the rest show their counts only); with ``max_rows`` None,
    one group of all."""
    wanted = [v for v in views if v.skipped or v.failed]
    if max_rows is None:
        return [wanted] if wanted else []
    groups: list[list[RequestView]] = []
    size = 0
    for view in sorted(wanted, key=lambda v: (v.skipped + v.failed, v.id)):
        rows = view.skipped + view.failed
        if not groups or size + rows > max_rows:
            groups.append([])
            size = 0
        groups[-1].append(view)
        size += rows
    return groups[:max_queries]


@dataclass
class RecipientPage:
    """One page of a request's recipients (``rows``: Id, OpenID, status, reason read,
    msg id, sent at, follower, contact, lead), and the Id the next page starts after
    (None: the last page)."""

    rows: list[dict[str, Any]]
    after: str | None


def recipients_page(salesforce: Queries, r: RecipientFields, message_id: str, *,
                    status: str | None = None, after: str | None = None,
                    size: int = PAGE_SIZE) -> RecipientPage:
    """The recipients of ``message_id`` with ``status`` (any, when None) whose Id comes
    after ``after``, ``size`` of them in Id order: one query of ``size + 1`` rows.

    Raises:
        BridgeError: the query failed (from the gateway), e.g. ``after`` is not an Id.
    """
    columns = [r.openid, r.status, r.reason, r.msg_id, r.sent_at, r.follower, r.contact,
               r.lead]
    names = ", ".join(dict.fromkeys(c for c in columns if c))
    template, args = PAGE, [names, r.object, r.message]
    params: dict[str, Any] = {"message": message_id, "limit": size + 1}
    if status:
        template += " AND {:literal} = {status}"
        args.append(r.status)
        params["status"] = status
    if after:
        template += " AND Id > {after}"
        params["after"] = after
    rows = salesforce.query(template + " ORDER BY Id LIMIT {limit}", *args, **params)
    page = [_recipient(row, r) for row in rows[:size]]
    return RecipientPage(page, page[-1]["id"] if len(rows) > size else None)


def _recipient(row: dict, r: RecipientFields) -> dict[str, Any]:
    reason = row.get(r.reason)
    return {"id": row["Id"], "openid": row.get(r.openid), "status": row.get(r.status),
            "reason": plain_reason(reason) if reason else None, "msg_id": row.get(r.msg_id),
            "sent_at": row.get(r.sent_at),
            "contact": row.get(r.contact) if r.contact else None,
            "lead": row.get(r.lead) if r.lead else None, "follower": row.get(r.follower)}
