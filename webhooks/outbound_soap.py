"""Salesforce Outbound Messages on the wire: the ``notifications()`` SOAP request in,
the acknowledgement out (pure: no I/O).

The request, as the Outbound Messaging WSDL defines it (namespace
``http://soap.sforce.com/2005/09/outbound``): ``notifications`` holds ``OrganizationId``,
``ActionId``, ``SessionId`` (nil unless the message sends one), ``EnterpriseUrl``,
``PartnerUrl`` and 1 to 100 ``Notification`` elements, each with its own ``Id`` (the same
on every resend of that notification) and an ``sObject`` whose ``xsi:type`` is
``sf:<object>`` and whose ``sf:Id`` is the record's. The field values beside ``sf:Id``
are not read: the bridge re-reads the record (a notification is a hint, perhaps old).

The answer Salesforce counts as delivered is exactly :data:`ACK` (HTTP 200); anything
else, such as :func:`fault` with HTTP 500, makes it resend the message later.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from connector import untrusted_xml
from connector.ids import is_api_name, is_record_id

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
MAX_NOTIFICATIONS = 100
CONTENT_TYPE = "text/xml; charset=utf-8"

ACK = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
       b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
       b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
       b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")



class MalformedMessage(ValueError):
    """The body is not an Outbound Message: the reason says what is wrong."""


@dataclass(frozen=True)
class Notification:
    """One notification: its own id, and the object and id of the record it is about."""

    id: str
    object: str
    record_id: str


@dataclass(frozen=True)
class OutboundMessage:
    org_id: str
    action_id: str
    notifications: tuple[Notification, ...]


def fault(reason: str) -> bytes:
    """A SOAP 1.1 server fault (sent with HTTP 500): Salesforce resends the message."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>soapenv:Server</faultcode><faultstring>{escape(reason)}"
            "</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>").encode()


def _text(parent: Element, name: str, ns: str = OUTBOUND) -> str:
    child = parent.find(f"{{{ns}}}{name}")
    return (child.text or "").strip() if child is not None else ""


def _notification(element: Element, index: int) -> Notification:
    where = f"Notification {index + 1}"
    notification_id = _text(element, "Id")
    sobject = element.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise MalformedMessage(f"{where} has no sObject")
    kind = sobject.get(XSI_TYPE, "")
    object_name = kind.rpartition(":")[2]
    record_id = _text(sobject, "Id", SOBJECT)
    if not is_record_id(notification_id):
        raise MalformedMessage(f"{where}: Id {notification_id[:40]!r} is not a Salesforce id")
    if not is_api_name(object_name):
        raise MalformedMessage(f"{where}: sObject type {kind[:60]!r} is not an object name")
    if not is_record_id(record_id):
        raise MalformedMessage(f"{where}: sObject Id {record_id[:40]!r} is not a record id")
    return Notification(notification_id, object_name, record_id)


def parse(body: bytes) -> OutboundMessage:
    """The organization, action and notifications of a ``notifications()`` request.

    Raises:
        MalformedMessage: not XML, a DTD or entity (refused outright), no SOAP envelope
            with ``notifications``, a missing or malformed id, or over 100 notifications.
    """
    root = untrusted_xml.parse(body, MalformedMessage)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedMessage("not a SOAP envelope")
    notifications = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise MalformedMessage("the SOAP body holds no notifications element")
    org_id, action_id = _text(notifications, "OrganizationId"), _text(notifications,
                                                                      "ActionId")
    if not is_record_id(org_id):
        raise MalformedMessage(f"OrganizationId {org_id[:40]!r} is not a Salesforce id")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise MalformedMessage("no Notification elements")
    if len(items) > MAX_NOTIFICATIONS:
        raise MalformedMessage(f"{len(items)} notifications; a message holds at most "
                               f"{MAX_NOTIFICATIONS}")
    return OutboundMessage(org_id, action_id,
                           tuple(_notification(item, i) for i, item in enumerate(items)))
