"""connector.ids: the one place Salesforce Ids and API names are recognised."""

from __future__ import annotations

import pytest

from connector.ids import id18, is_api_name, is_campaign_id, is_record_id, same_id, short_id

LEAD15, LEAD18 = "00Q5g00000AbCdE", "00Q5g00000AbCdEEAV"  # Q; none; A, C, E


@pytest.mark.parametrize(("value", "ok"), [
    (LEAD15, True), (LEAD18, True), ("00Q5g00000AbCd", False), (LEAD18 + "X", False),
    ("00Q5g00000AbCd!", False), (None, False), (123, False), ("", False),
    (LEAD15 + "\n", False), (LEAD18 + "\n", False),
])
def test_record_ids_are_15_or_18_letters_and_digits(value, ok):
    assert is_record_id(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("7015g00000AbCdE", True), ("7015g00000AbCdEAAZ", True), (LEAD15, False),
    ("701", False),
])
def test_campaign_ids_start_701(value, ok):
    assert is_campaign_id(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("Lead", True), ("WeChat_OpenId__c", True), ("_x", False), ("1Field", False),
    ("Lead; DROP", False), ("Lead.Name", False), (None, False), ("Lead\n", False),
])
def test_api_names_are_what_may_go_into_a_url_or_soql_unescaped(value, ok):
    assert is_api_name(value) is ok


def test_the_two_forms_of_an_id_are_the_same_id():
    assert id18(LEAD15) == LEAD18 == id18(LEAD18)
    assert short_id(LEAD18) == LEAD15
    assert same_id(LEAD15, LEAD18) and same_id(LEAD18, LEAD15)
    assert not same_id(LEAD15, "00Q5g00000AbCdF")
    assert not same_id(LEAD15.lower(), LEAD15)  # the 15-character form is case-sensitive
    assert not same_id(None, LEAD15) and not same_id("not an id", "not an id")


@pytest.mark.parametrize(("value", "words"), [
    ("00Q5g00000AbCd", "is not a Salesforce record Id"),
    (LEAD15 + "AAA", "do not match the first fifteen"),
])
def test_id18_refuses_what_is_not_an_id_and_says_why(value, words):
    with pytest.raises(ValueError, match=words):
        id18(value)
