"""The way back's lifecycle re-evaluation, pure: which followers a person change moves."""

from __future__ import annotations

import pytest

from connector.settings import DEFAULT_MAPPING
from connector.wayback.lifecycle import lifecycle_objects, stage_moves
from mappings.loader import parse_mapping

MAPPING = parse_mapping(DEFAULT_MAPPING.read_text(encoding="utf-8"), str(DEFAULT_MAPPING))
LIFE = MAPPING.lifecycle.plan()
LEAD = "00Q5g00000AbCdEAAA"


def test_the_rules_objects_and_fields_are_watched():
    assert lifecycle_objects(MAPPING) == {
        "Contact": ("Email", "WeChat_Customer_Tier__c"), "Lead": ("Email", "Status")}


@pytest.mark.parametrize(("obj", "person", "current", "expected"), [
    ("Lead", {"Email": "a@example.com"}, "Engaged", "Identified"),
    ("Lead", {"Email": ""}, "Engaged", None),                       # blank: no rule fires
    ("Lead", {"Email": "a@example.com"}, "Identified", None),       # already there: no write
    ("Lead", {"Email": "a@example.com"}, "Opportunity", None),      # never backwards
    ("Lead", {"Status": "Working - Contacted", "Email": None}, None, "Prospect"),
    ("Contact", {"Email": None}, "Engaged", "Customer"),
    ("Contact", {"WeChat_Customer_Tier__c": "Gold"}, "Customer", "Loyal"),
])
def test_a_person_change_moves_its_followers_forward(obj, person, current, expected):
    persons = {LEAD[:15]: {"Id": LEAD, **person}}
    link = "Lead__c" if obj == "Lead" else "Contact__c"
    followers = [{"Id": "a005g00000Follow1", link: LEAD, "Lifecycle_Stage__c": current},
                 {"Id": "a005g00000Follow2", link: "00Q5g00000Other1AAA",
                  "Lifecycle_Stage__c": None}]  # another person's: not moved
    moves = stage_moves(LIFE, obj, persons, followers, link)
    assert moves == ([("a005g00000Follow1", expected)] if expected else [])
