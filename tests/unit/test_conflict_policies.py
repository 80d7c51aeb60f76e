"""Conflict policies per field (``conflict:``): the grammar, the pure decision, the write
planner, the person query and the checks against the org — as tables of cases."""

from pathlib import Path

import pytest
from simple_salesforce.format import format_soql

from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.apply import person_queries
from connector.inbound.conflicts import may_overwrite, read_fields
from connector.inbound.persons import resolve_persons
from connector.inbound.writes import plan_writes
from mappings.engine import plan_event
from mappings.loader import MappingError, parse_mapping
from mappings.org_check import check_against_org
from sandbox.salesforce import SalesforceSandbox

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
# The shipped mapping without its lifecycle: the person query reads the fields the
# policies compare, and lifecycle rules would add their own.
TEXT = DEFAULT.read_text().split("\nlifecycle:")[0]
LEAD_LINE = '    LeadSource:        { value: "WeChat" }'
LEAD = "00Q000000000001AAA"
CONTACT = "003000000000001AAA"
JAN_31 = 1706702400  # 2024-01-31T12:00:00Z
MODIFIED = "2024-01-31T12:00:00.000+0000"


ORG = SalesforceSandbox(client_id="3MVG9unit", username="unit@bridge.sandbox",
                        public_key_pem="unused: describe needs no login")


describe = ORG.describe  # the describe JSON the sandbox serves, without HTTP


def with_lead_rules(*lines: str) -> str:
    assert LEAD_LINE in TEXT
    return TEXT.replace(LEAD_LINE, "\n".join([LEAD_LINE, *lines]), 1)


@pytest.mark.parametrize(
    ("policy", "row", "at", "expected"),
    [
        (None, None, JAN_31, True),  # no policy: today's behaviour, always overwrite
        (None, {"Description": "kept"}, JAN_31, True),
        ("prefer_salesforce_unless_blank", {"Description": None}, JAN_31, True),
        ("prefer_salesforce_unless_blank", {"Description": ""}, JAN_31, True),
        ("prefer_salesforce_unless_blank", {"Description": "an admin's note"}, JAN_31, False),
        ("prefer_salesforce_unless_blank", {"Id": LEAD}, JAN_31, False),  # not read: unknown
        ("prefer_salesforce_unless_blank", None, JAN_31, False),  # converted: not read
        ("newest", {"LastModifiedDate": MODIFIED}, JAN_31 + 1, True),
        ("newest", {"LastModifiedDate": MODIFIED}, JAN_31, False),  # same second: not newer
        ("newest", {"LastModifiedDate": MODIFIED}, JAN_31 - 60, False),
        ("newest", {"LastModifiedDate": "2024-01-31T12:00:00Z"}, JAN_31 + 1, True),
        ("newest", {"LastModifiedDate": None}, JAN_31, False),
        ("newest", {"LastModifiedDate": "yesterday"}, JAN_31, False),
        ("newest", None, JAN_31 + 1, False),
        ("always_salesforce", {"Description": None}, JAN_31, False),
        ("dont_sync", {"Description": None}, JAN_31, False),
    ],
)
def test_may_overwrite(policy, row, at, expected):
    assert may_overwrite(policy, "Description", row, at) is expected


def test_read_fields_are_the_compared_fields_and_last_modified_for_newest():
    assert read_fields({"B": "prefer_salesforce_unless_blank", "A":
                        "prefer_salesforce_unless_blank", "C": "always_salesforce"}) == ["A", "B"]
    assert read_fields({"A": "newest", "B": "newest"}) == ["LastModifiedDate"]
    assert read_fields({"C": "always_salesforce"}) == []


MAPPING = parse_mapping(with_lead_rules(
    "    Description:       { source: follower.remark, on: always, "
    "conflict: prefer_salesforce_unless_blank }",
    "    Title:             { value: Follower, on: always, conflict: newest }",
    "    Rating:            { value: Warm, on: always, conflict: always_salesforce }",
    "    Industry:          { value: Media, on: always, conflict: dont_sync }",
    "    Website:           { value: example.com, on: always }"), DEFAULT)


def lead_plan(at: int = JAN_31):
    e = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": "oF1",
                                  "CreateTime": str(at), "MsgType": "event",
                                  "Event": "subscribe", "EventKey": ""})
    return plan_event(e, Follower(openid="oF1", subscribed=True, remark="from WeChat"),
                      MAPPING)


@pytest.mark.parametrize(
    ("row", "updated"),
    [
        ({"Description": None, "LastModifiedDate": "2024-01-01T00:00:00.000+0000"},
         {"Description": "from WeChat", "Title": "Follower", "Website": "example.com"}),
        ({"Description": "note", "LastModifiedDate": "2024-02-01T00:00:00.000+0000"},
         {"Website": "example.com"}),
        ({}, {"Website": "example.com"}),  # nothing read: only the fields without a policy
    ],
)
def test_a_matched_lead_is_updated_by_its_policies(row, updated):
    plans = [lead_plan()]
    found = {("Lead", "WeChat_OpenId__c", "oF1"): ({"Id": LEAD, "WeChat_OpenId__c": "oF1",
                                                    **row},)}
    writes = plan_writes(plans, resolve_persons(plans, found))
    [update] = [w for w in writes if w.action == "update"]
    assert update.records == ({"Id": LEAD, **updated},)


def test_a_created_lead_gets_every_field_but_dont_sync():
    plans = [lead_plan()]
    writes = plan_writes(plans, resolve_persons(plans, found={}))
    [create] = [w for w in writes if w.object == "Lead"]
    record = create.records[0]
    assert {k: record.get(k) for k in ("Description", "Title", "Rating", "Website")} == {
        "Description": "from WeChat", "Title": "Follower", "Rating": "Warm",
        "Website": "example.com"}
    assert "Industry" not in record


def test_the_contact_of_a_converted_lead_keeps_its_values():
    text = TEXT.replace("objects:", "objects:\n  Contact:\n    Description: { source: "
                        "follower.remark, on: always, conflict: prefer_salesforce_unless_blank }\n"
                        "    Title: { value: Follower, on: always }", 1)
    mapping = parse_mapping(text, DEFAULT)
    e = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": "oF1",
                                  "CreateTime": str(JAN_31), "MsgType": "event",
                                  "Event": "subscribe", "EventKey": ""})
    plans = [plan_event(e, Follower(openid="oF1", subscribed=True, remark="r"), mapping)]
    found = {("Lead", "WeChat_OpenId__c", "oF1"): (
        {"Id": LEAD, "IsConverted": True, "ConvertedContactId": CONTACT},)}
    [update] = [w for w in plan_writes(plans, resolve_persons(plans, found))
                if w.action == "update"]
    assert update.records == ({"Id": CONTACT, "Title": "Follower"},)  # Description unknown


def test_the_person_query_selects_what_the_policies_compare():
    asked = person_queries([lead_plan()])
    assert len(asked) == 2  # one per match rule, as without policies
    soql = {format_soql(q.template, *q.args, **q.params) for _, _, q in asked}
    assert ("SELECT Id, WeChat_OpenId__c, Description, LastModifiedDate, IsConverted, "
            "ConvertedContactId FROM Lead WHERE WeChat_OpenId__c IN ('oF1') "
            "ORDER BY CreatedDate ASC") in soql
    assert ("SELECT Id, WeChat_OpenId__c FROM Contact WHERE WeChat_OpenId__c IN ('oF1') "
            "ORDER BY CreatedDate ASC") in soql


@pytest.mark.parametrize(
    ("rule", "where", "message"),
    [
        ("{ source: follower.remark, conflict: newest }", "objects",
         "objects.Lead.Description: conflict: newest decides whether an update overwrites "
         "Lead.Description, but with on: create it is written only when the bridge creates "
         "the record — add on: always, or remove conflict"),
        ("{ source: follower.remark, on: always, conflict: always_salesforce }", "follower",
         "follower.fields.Description: conflict: always_salesforce applies only to person "
         "fields (objects.Lead, objects.Contact) with on: always; this record is upserted on "
         "every event — remove conflict, or use conflict: dont_sync to stop writing it"),
        ("{ source: follower.remark, conflict: dont_sync }", "follower", None),
        ("{ source: follower.remark, conflict: dont_sync }", "objects", None),
        ("{ source: follower.remark, conflict: latest }", "objects", "Input should be"),
    ],
)
def test_conflict_only_where_an_update_overwrites(rule, where, message):
    line = f"    Description:       {rule}"
    if where == "objects":
        text = with_lead_rules(line)
    else:
        text = TEXT.replace("    UnionId__c:", f"{line}\n    UnionId__c:", 1)
    if message is None:
        parse_mapping(text, DEFAULT)
        return
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, DEFAULT)
    row = text.splitlines().index(line) + 1
    assert any(problem[0] == row and message in problem[2]
               for problem in caught.value.problems), caught.value.problems


def test_the_org_check_needs_read_access_to_compared_fields_and_skips_dont_sync():
    text = with_lead_rules(
        "    Descripton:        { source: follower.remark, on: always, "
        "conflict: prefer_salesforce_unless_blank }",
        "    IsConverted:       { value: Warm, on: always, conflict: dont_sync }")
    problems = [str(p) for p in check_against_org(parse_mapping(text, DEFAULT), text,
                                                  DEFAULT, describe)]
    line = text.splitlines().index(
        "    Descripton:        { source: follower.remark, on: always, "
        "conflict: prefer_salesforce_unless_blank }") + 1
    assert any(f":{line}:" in p and "conflict: prefer_salesforce_unless_blank reads "
               "Lead.Descripton before each update, but the integration user cannot see it"
               in p for p in problems), problems
    assert not any("IsConverted" in p for p in problems)  # never written: not checked
