"""Outbound Messages, sent as a workflow rule's (or flow's) outbound message action sends
them.

A rule names an object, the fields its messages carry and the endpoint URL. Every
create of a record of that object, and every update that changes one of the fields,
queues a notification (an admin's edit and the bridge's own writes alike: a real rule
fires for every user unless its criteria say otherwise). A background thread sends the
queued notifications, up to 100 per message (``notifications()`` SOAP call), and expects
the acknowledgement ``<notificationsResponse><Ack>true</Ack></notificationsResponse>``.
Anything else (an error status, a SOAP fault, ``<Ack>false</Ack>``, no answer) is a nack:
the message is sent again with growing delays, as Salesforce does for 24 hours (here the
delays of :data:`RETRY_DELAYS`, seconds apart instead of hours).

Wire format (``SessionId`` is nil: the rule does not send a session)::

    <soapenv:Envelope xmlns:soapenv=".../soap/envelope/" xmlns:xsd=... xmlns:xsi=...>
     <soapenv:Body>
      <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
       <OrganizationId>00D…</OrganizationId><ActionId>04k…</ActionId>
       <SessionId xsi:nil="true"/><EnterpriseUrl>…</EnterpriseUrl><PartnerUrl>…</PartnerUrl>
       <Notification><Id>04l…</Id>
        <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
         <sf:Id>00Q…</sf:Id><sf:Description>…</sf:Description></sObject>
       </Notification>
      </notifications>
     </soapenv:Body>
    </soapenv:Envelope>
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from sandbox.salesforce.authors import Actor
from sandbox.salesforce.ids import IdFactory

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100  # per message, as the WSDL says (maxOccurs="100")
# Seconds before each resend of a nacked message; Salesforce backs off up to 2 hours
# between tries for 24 hours. After the last, the message is given up (dropped).
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
           "User-Agent": "Jakarta Commons-HttpClient/3.1"}


@dataclass(frozen=True)
class OutboundRule:
    """Send ``object`` records' ``fields`` (plus Id) to ``url`` when one of them changes."""

    object: str
    fields: tuple[str, ...]
    url: str
    action_id: str


@dataclass(frozen=True)
class Notification:
    id: str
    rule: OutboundRule
    record: dict


@dataclass
class Delivery:
    """One message and its fate: ``acked`` once the endpoint acknowledged it,
    ``attempts`` so far, the last ``status`` (None: no answer) and ``problem``."""

    url: str
    notification_ids: list[str]
    record_ids: list[str]
    queued_at: float
    attempts: int = 0
    acked: bool = False
    given_up: bool = False
    status: int | None = None
    problem: str | None = None
    sent_at: list[float] = field(default_factory=list)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.endswith("+0000"):  # the REST form of a datetime; SOAP writes Z
        text = text[:-5] + "Z"
    return escape(text)


def envelope(org_id: str, action_id: str, instance_url: str, version: str,
             notifications: Iterable[tuple[str, str, dict, tuple[str, ...]]]) -> str:
    """The ``notifications()`` SOAP request for ``(notification id, object, record,
    fields)`` items; the record's Id first, then the fields alphabetically, nil when
    blank."""
    org15 = org_id[:15]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        " <soapenv:Body>\n"
        f'  <notifications xmlns="{OUTBOUND_NS}">\n'
        f"   <OrganizationId>{org_id}</OrganizationId>\n"
        f"   <ActionId>{action_id}</ActionId>\n"
        '   <SessionId xsi:nil="true"/>\n'
        f"   <EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{version}/{org15}"
        "</EnterpriseUrl>\n"
        f"   <PartnerUrl>{escape(instance_url)}/services/Soap/u/{version}/{org15}"
        "</PartnerUrl>\n"
    ]
    for notification_id, sobject, record, fields in notifications:
        parts.append(f"   <Notification>\n    <Id>{notification_id}</Id>\n"
                     f"    <sObject xsi:type={quoteattr('sf:' + sobject)} "
                     f'xmlns:sf="{SOBJECT_NS}">\n'
                     f"     <sf:Id>{record['Id']}</sf:Id>\n")
        for name in sorted(set(fields) - {"Id"}):
            value = record.get(name)
            if value is None or value == "":
                parts.append(f'     <sf:{name} xsi:nil="true"/>\n')
            else:
                parts.append(f"     <sf:{name}>{_value(value)}</sf:{name}>\n")
        parts.append("    </sObject>\n   </Notification>\n")
    parts.append("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
    return "".join(parts)


def is_ack(status: int, body: bytes) -> tuple[bool, str | None]:
    """Whether an answer acknowledges the message, and if not, why (as Salesforce's
    delivery status page would say)."""
    if status != 200:
        return False, f"HTTP {status}"
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True)
    except (DefusedXmlException, SyntaxError, ValueError):
        return False, "Content is not allowed in prolog (the answer is not XML)"
    ack = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/"
                    f"{{{OUTBOUND_NS}}}Ack")
    if ack is None:
        return False, "the answer has no notificationsResponse/Ack"
    if (ack.text or "").strip() != "true":
        return False, "SOAP response was a nack"
    return True, None


class OutboundMessenger:
    """The org's outbound message rules and the thread that delivers their messages.

    Args:
        org_id: the org's id (18 characters), sent as ``OrganizationId``.
        instance_url: the instance's base URL, when known (set by the app per request).
        version: the API version of the URLs in the message.
        verify: TLS verification of the endpoint (a CA bundle path, or True).
    """

    def __init__(self, org_id: str, *, instance_url: str = "https://sandbox.my.salesforce.com",
                 version: str = "62.0", verify: bool | str = True,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.org_id = org_id
        self.instance_url = instance_url
        self.version = version
        self.retry_delays = retry_delays
        self._verify = verify
        self._clock = clock
        self._ids = IdFactory()
        self._rules: list[OutboundRule] = []
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._retries: list[tuple[float, int, Delivery, str]] = []  # heap by due time
        self._order = itertools.count()
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._busy = 0  # notifications queued or messages in flight or waiting to retry
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- configuration -----------------------------------------------------------------

    def add_rule(self, sobject: str, fields: Iterable[str], url: str) -> OutboundRule:
        """Send ``sobject`` records to ``url`` on create and when one of ``fields``
        changes; the thread starts with the first rule."""
        rule = OutboundRule(sobject, tuple(fields), url, self._ids.new("04k"))
        with self._lock:
            self._rules.append(rule)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbound-messages",
                                                daemon=True)
                self._thread.start()
        return rule

    def rules(self) -> list[OutboundRule]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        """Remove every rule (messages already queued are still sent)."""
        with self._lock:
            self._rules.clear()

    # -- the store's observer ----------------------------------------------------------

    def notice(self, sobject: str, before: dict | None, after: dict, actor: Actor) -> None:
        """Queue a notification per rule the write meets (runs under the store's lock)."""
        if after.get("IsDeleted"):
            return  # workflow rules do not fire on delete
        with self._lock:
            rules = [r for r in self._rules if r.object == sobject]
        for rule in rules:
            if before is None or any(before.get(f) != after.get(f) for f in rule.fields):
                self._enqueue(Notification(self._ids.new("04l"), rule, dict(after)))

    def _enqueue(self, notification: Notification) -> None:
        with self._lock:
            self._busy += 1
        self._queue.put(notification)

    # -- inspection --------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every message so far, oldest first (copies)."""
        with self._lock:
            return [Delivery(**{**d.__dict__, "notification_ids": list(d.notification_ids),
                                "record_ids": list(d.record_ids), "sent_at": list(d.sent_at)})
                    for d in self._deliveries]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification is acknowledged or given up."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self._stopping = True
        self._queue.put(None)

    # -- delivery ----------------------------------------------------------------------

    def _run(self) -> None:
        with httpx.Client(timeout=10.0, verify=self._verify) as http:
            while not self._stopping:
                due = self._next_retry_in()
                try:
                    first = self._queue.get(timeout=due)
                except queue.Empty:
                    self._resend_due(http)
                    continue
                if first is None:
                    return
                batch = [first, *self._drain(first.rule)]
                self._send_new(http, batch)
                self._resend_due(http)

    def _drain(self, rule: OutboundRule) -> list[Notification]:
        """More queued notifications of the same rule, up to a message's 100; others go
        back on the queue."""
        more, others = [], []
        while len(more) < MAX_NOTIFICATIONS - 1:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stopping = True
                break
            (more if item.rule == rule else others).append(item)
        for item in others:
            self._queue.put(item)
        return more

    def _send_new(self, http: httpx.Client, batch: list[Notification]) -> None:
        rule = batch[0].rule
        body = envelope(self.org_id, rule.action_id, self.instance_url, self.version,
                        [(n.id, rule.object, n.record, rule.fields) for n in batch])
        delivery = Delivery(url=rule.url, notification_ids=[n.id for n in batch],
                            record_ids=[n.record["Id"] for n in batch],
                            queued_at=self._clock())
        with self._lock:
            self._deliveries.append(delivery)
            # the notifications now travel as one message: one busy unit
            self._busy -= len(batch) - 1
        self._attempt(http, delivery, body)

    def _attempt(self, http: httpx.Client, delivery: Delivery, body: str) -> None:
        started = self._clock()
        try:
            answer = http.post(delivery.url, content=body.encode("utf-8"), headers=HEADERS)
            status, acked, problem = answer.status_code, *is_ack(answer.status_code,
                                                                 answer.content)
        except httpx.HTTPError as exc:
            status, acked, problem = None, False, f"no answer ({type(exc).__name__})"
        with self._lock:
            delivery.attempts += 1
            delivery.sent_at.append(started)
            delivery.status, delivery.problem, delivery.acked = status, problem, acked
            if not acked and delivery.attempts <= len(self.retry_delays):
                due = self._clock() + self.retry_delays[delivery.attempts - 1]
                heapq.heappush(self._retries, (due, next(self._order), delivery, body))
                log.info("outbound message to %s not acknowledged (%s); resending in %.1f s",
                         delivery.url, problem, self.retry_delays[delivery.attempts - 1])
                return
            if not acked:
                delivery.given_up = True
                log.warning("outbound message to %s given up after %d attempts: %s",
                            delivery.url, delivery.attempts, problem)
            self._busy -= 1
            self._idle.notify_all()

    def _next_retry_in(self) -> float | None:
        with self._lock:
            if not self._retries:
                return None
            return max(0.0, self._retries[0][0] - self._clock())

    def _resend_due(self, http: httpx.Client) -> None:
        while True:
            with self._lock:
                if not self._retries or self._retries[0][0] > self._clock():
                    return
                _, _, delivery, body = heapq.heappop(self._retries)
            self._attempt(http, delivery, body)
