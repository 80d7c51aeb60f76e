"""The mapping's ``salesforce_rules:`` (checked with file:line like every key), which
writes may run the org's assignment rule, and what a duplicate rule's refusal says
(the REST shapes real orgs answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import FatalError
from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.persons import resolve_persons
from connector.inbound.writes import plan_writes
from connector.salesforce.errors import Target, classify_record_errors, classify_response
from mappings.engine import plan_event
from mappings.loader import MappingError, parse_mapping

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text(encoding="utf-8")
LINE = len(TEXT.splitlines()) + 2  # where an appended section's first key lands


def mapping(rules: str = ""):
    return parse_mapping(TEXT + rules, Path("mapping.yaml"))


def scan(openid: str, the_mapping):
    event = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": openid,
                                      "CreateTime": "100", "MsgType": "event",
                                      "Event": "SCAN", "EventKey": "sfc_x"})
    return plan_event(event, Follower(openid=openid, subscribed=True), the_mapping)


@pytest.mark.parametrize(("section", "needle"), [
    ("assignment_rules: always", "'on_create' or 'never'"),
    ("allow_duplicates: yes", "valid boolean"),
    ("assign: never", "unknown key 'assign'"),
])
def test_bad_values_name_their_line(section, needle):
    with pytest.raises(MappingError) as caught:
        mapping(f"\nsalesforce_rules:\n  {section}\n")
    assert any(line == LINE + 1 and needle in text
               for line, _, text in caught.value.problems), caught.value.problems


def test_defaults_leave_the_fingerprint_of_a_file_without_the_section():
    assert mapping().salesforce_rules.assignment_rules == "on_create"
    assert mapping().salesforce_rules.allow_duplicates is False
    assert mapping().fingerprint() == mapping(
        "\nsalesforce_rules: { assignment_rules: on_create }\n").fingerprint()


@pytest.mark.parametrize(("rules", "assigned"), [
    ("", True), ("\nsalesforce_rules: { assignment_rules: never }\n", False)])
def test_only_created_persons_may_run_the_assignment_rule(rules, assigned):
    the_mapping = mapping(rules)
    plans = [scan("oNew", the_mapping)]
    writes = plan_writes(plans, resolve_persons(plans, found={}))
    assert [(w.object, w.assign) for w in writes] == [
        ("Lead", assigned), ("WeChat_Follower__c", False)]
    assert writes[0].to_json()["assign"] is assigned
    known = [scan("oKnown", the_mapping)]
    found = {("Lead", "WeChat_OpenId__c", "oKnown"): "00Q000000000001AAA"}
    assert not any(w.assign for w in plan_writes(known, resolve_persons(known, found)))


# The answer of a single-record create a duplicate rule refused (REST, API v54.0, as
# quoted in aiosalesforce's tests/test_exceptions.py); per record, a collection's
# DuplicateError carries the same duplicateResult beside statusCode and fields.
DUPLICATE_RESULT = {
    "allowSave": True, "duplicateRule": "Standard_Contact_Duplicate_Rule",
    "duplicateRuleEntityType": "Contact", "errorMessage": "Use one of these records?",
    "matchResults": [{"entityType": "Contact", "errors": [], "matchEngine": "FuzzyMatchEngine",
                      "matchRecords": [{"additionalInformation": [], "fieldDiffs": [],
                                        "matchConfidence": 100.0,
                                        "record": {"attributes": {"type": "Contact"},
                                                   "Id": "003aj000002oTldAAE"}}],
                      "rule": "Standard_Contact_Match_Rule_v1_1", "size": 1,
                      "success": True}]}


def test_a_duplicate_names_its_rule_the_matching_records_and_how_to_save_anyway():
    error = classify_response(400, [{"duplicateResult": DUPLICATE_RESULT,
                                     "errorCode": "DUPLICATES_DETECTED",
                                     "message": "Use one of these records?"}],
                              Target("create", "Contact"))
    assert isinstance(error, FatalError) and error.code == "DUPLICATES_DETECTED"
    for text in ("Use one of these records?", "Standard_Contact_Duplicate_Rule",
                 "003aj000002oTldAAE", "salesforce_rules.allow_duplicates: true",
                 "allowSave=true"):
        assert text in error.message


def test_a_blocking_rule_says_the_mapping_cannot_save_past_it():
    blocked = {**DUPLICATE_RESULT, "allowSave": False}
    (error,) = classify_record_errors([{"statusCode": "DUPLICATES_DETECTED", "fields": [],
                                        "message": "Use one of these records?",
                                        "duplicateResult": blocked}],
                                      Target("upsert_many", "Contact"))
    assert "action is Block" in error.message and "003aj000002oTldAAE" in error.message


def test_a_duplicate_without_details_still_says_what_to_do():
    # reference V3d: the documentation's collection answer has no duplicateResult
    (error,) = classify_record_errors([{"statusCode": "DUPLICATES_DETECTED", "fields": [],
                                        "message": "Use one of these records?"}],
                                      Target("create_many", "Lead"))
    assert "A duplicate rule refused the Lead record" in error.message
    assert "salesforce_rules.allow_duplicates" in error.message
