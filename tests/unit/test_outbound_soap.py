"""Outbound Messages on the wire: the SOAP request Salesforce sends is read (only the
ids), the acknowledgement is byte for byte what Salesforce expects, and the sandbox's
messages are the same shape."""

from __future__ import annotations

import pytest

from connector.ids import same_id
from sandbox.salesforce.outbound import envelope, is_ack
from webhooks.outbound_soap import ACK, MalformedMessage, fault, parse

# The shape of a real message (namespaces, nil SessionId, sObject with xsi:type and its
# own xmlns:sf, the Notification Id beside it), as Salesforce sent it to a listener;
# ids and values made up.
REAL_SHAPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n' + b"""\
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5g000004ZkLmEAK</OrganizationId>
   <ActionId>04k5g0000008OgXAAU</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5g000004ZkLm</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004ZkLm</PartnerUrl>
   <Notification>
    <Id>04l5g00000BcNqJAAV</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q5g00000Ab3XyEAJ</sf:Id>
     <sf:Description>VIP \xe5\xae\xa2\xe6\x88\xb7</sf:Description>
     <sf:LastModifiedById>0055g00000A1b2cAAB</sf:LastModifiedById>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l5g00000BcNqKAAV</Id>
    <sObject xsi:type="sf:WeChat_Follower__c" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>a0B5g00000XyZ12EAF</sf:Id>
     <sf:Tags__c xsi:nil="true"/>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
""")


def test_a_real_shaped_message_gives_its_org_and_the_records_it_is_about():
    message = parse(REAL_SHAPE)
    assert message.org_id == "00D5g000004ZkLmEAK"
    assert message.action_id == "04k5g0000008OgXAAU"
    assert [(n.id, n.object, n.record_id) for n in message.notifications] == [
        ("04l5g00000BcNqJAAV", "Lead", "00Q5g00000Ab3XyEAJ"),
        ("04l5g00000BcNqKAAV", "WeChat_Follower__c", "a0B5g00000XyZ12EAF"),
    ]


def test_the_acknowledgement_is_exactly_what_salesforce_expects():
    assert ACK == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
        b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")
    assert is_ack(200, ACK) == (True, None)
    # what the sandbox, like Salesforce, counts as not delivered
    assert is_ack(500, ACK)[0] is False
    assert is_ack(200, ACK.replace(b">true<", b">false<")) == (False,
                                                               "SOAP response was a nack")
    assert is_ack(200, b"success")[0] is False
    assert is_ack(200, fault("busy"))[0] is False


def test_a_fault_escapes_its_reason():
    body = fault("a <b> & c")
    assert b"<faultcode>soapenv:Server</faultcode>" in body
    assert b"<faultstring>a &lt;b&gt; &amp; c</faultstring>" in body


def test_the_sandbox_sends_what_the_parser_reads():
    record = {"Id": "00Q5g00000Ab3XyEAJ", "Description": "a < b", "Email": None,
              "IsConverted": False, "SystemModstamp": "2024-05-01T08:00:00.000+0000"}
    body = envelope("00D5g000004ZkLmEAK", "04k5g0000008OgXAAU", "https://x.example", "62.0",
                    [("04l5g00000BcNqJAAV", "Lead", record,
                      ("Description", "Email", "IsConverted", "SystemModstamp"))])
    assert '<sf:Email xsi:nil="true"/>' in body
    assert "<sf:Description>a &lt; b</sf:Description>" in body
    assert "<sf:SystemModstamp>2024-05-01T08:00:00.000Z</sf:SystemModstamp>" in body
    message = parse(body.encode())
    assert [(n.object, n.record_id) for n in message.notifications] == [
        ("Lead", "00Q5g00000Ab3XyEAJ")]


@pytest.mark.parametrize("body, why", [
    (b"not xml", "not well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "forbidden"),
    (b"<xml><ToUserName>gh_1</ToUserName></xml>", "not a SOAP envelope"),
    (REAL_SHAPE.replace(b"00D5g000004ZkLmEAK", b"00D5g'OR'1"), "OrganizationId"),
    (REAL_SHAPE.replace(b'xsi:type="sf:Lead"', b'xsi:type="sf:Lead WHERE"'), "object name"),
    (REAL_SHAPE.replace(b"00Q5g00000Ab3XyEAJ", b"00Q5g0000"), "record id"),
])
def test_what_is_not_an_outbound_message_is_refused_with_a_reason(body, why):
    with pytest.raises(MalformedMessage, match=why):
        parse(body)


def test_more_than_100_notifications_are_refused():
    one = REAL_SHAPE.split(b"<Notification>")[1].split(b"</Notification>")[0]
    many = REAL_SHAPE.replace(b"<Notification>" + one + b"</Notification>",
                              (b"<Notification>" + one + b"</Notification>") * 101, 1)
    with pytest.raises(MalformedMessage, match="at most 100"):
        parse(many)


@pytest.mark.parametrize("a, b, same", [
    ("00D5g000004ZkLm", "00D5g000004ZkLmEAK", True),
    ("00D5g000004ZkLmEAK", "00D5g000004ZkLmEAK", True),
    ("00D5g000004ZkLm", "00D5g000004ZkLM", False),  # 15-character ids are case-sensitive
    ("00D5g000004ZkLn", "00D5g000004ZkLmEAK", False),
    ("00D5g000004ZkL", "00D5g000004ZkLmEAK", False),  # 14 characters: not an id
    (None, "00D5g000004ZkLmEAK", False),
])
def test_org_ids_compare_in_15_or_18_characters(a, b, same):
    assert same_id(a, b) is same
