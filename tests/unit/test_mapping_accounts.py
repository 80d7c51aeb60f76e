"""``accounts:`` in a mapping: an account's sections replace the top-level ones for its
events only, and a mistake inside them is reported with its line, by load and org check."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.lengths import fitted_objects
from mappings.engine import handles, plan_event
from mappings.loader import MappingError, parse_mapping
from mappings.org_check import check_against_org
from sandbox.salesforce import SalesforceSandbox

TEXT = (Path(__file__).resolve().parents[2] / "mappings" / "default.yaml").read_text()
B, C = "gh_00000000000b", "gh_00000000000c"
ACCOUNTS = f"""
accounts:
  {B}:
    objects:
      Lead:
        LastName:   {{ value: "Store B" }}
        Company:    {{ value: "WeChat", transform: "fit" }}
        LeadSource: {{ value: "WeChat Store B" }}
    events:
      subscribe: {{ person: true, campaign: true }}
      link:      {{ person: false }}
"""
ORG = SalesforceSandbox(client_id="3MVG9accounts", username="accounts@bridge.sandbox",
                        public_key_pem="unused: describe needs no login")


describe = ORG.describe  # the describe JSON the sandbox serves, without HTTP


def event(account: str, kind: str = "subscribe") -> InboundEvent:
    fields = {"ToUserName": account, "FromUserName": "oFollower1", "CreateTime": "1700000000"}
    fields |= {"MsgType": "event", "Event": kind} if kind != "link" else {
        "MsgType": "link", "Title": "A page", "Url": "http://x/1", "MsgId": "1"}
    return InboundEvent.from_fields(fields)


FOLLOWER = Follower(openid="oFollower1", subscribed=True)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_account_s_sections_replace_the_shared_ones_for_its_events_only():
    mapping = parse_mapping(TEXT + ACCOUNTS, Path("m.yaml"))
    store_b = mapping.for_account(B)
    assert mapping.for_account(C) is mapping  # not listed: the top-level mapping
    assert store_b.follower == mapping.follower and store_b.match == mapping.match
    assert set(store_b.events) == {"subscribe", "link"}  # replaced wholesale, not merged
    lead_source = {}
    for account in (B, C):
        plan = plan_event(event(account), FOLLOWER, mapping)
        lead_source[account] = plan.person.create_fields["LeadSource"]
    assert lead_source == {B: "WeChat Store B", C: "WeChat"}
    # (a link: the shipped mapping captures texts and media, not links, for every account)
    assert handles(mapping, event(B, "link")) and not handles(mapping, event(C, "link"))
    assert fitted_objects(mapping) == ["Lead"]  # B's fit counts


def test_the_fingerprint_without_accounts_is_unchanged_and_covers_them():
    plain = parse_mapping(TEXT, Path("m.yaml"))
    # what the file sets, not the grammar's defaults: an explicit default changes nothing,
    # so neither does a key the grammar gains later
    spelled_out = TEXT.replace('{ value: "WeChat" }', '{ value: "WeChat", on: create }', 1)
    assert spelled_out != TEXT
    assert parse_mapping(spelled_out, Path("m.yaml")).fingerprint() == plain.fingerprint()
    assert parse_mapping(TEXT + ACCOUNTS, Path("m.yaml")).fingerprint() != plain.fingerprint()


@pytest.mark.parametrize(("extra", "needle", "message"), [
    ("  gh_short:\n    create: Contact\n", "gh_short:", "not an account's original id"),
    (f"  {B}:\n    objecs: {{}}\n", "objecs:", "accounts.gh_00000000000b.objecs: unknown key"),
    (f"  {B}:\n    match: []\n", "match: []", "at least 1 item"),
    (f"  {B}:\n    match:\n      - {{ object: Contact, field: Email, source: follower.openid }}\n",
     "create: Lead", "accounts.gh_00000000000b: create: Lead needs a match rule on Lead"),
])
def test_mistakes_in_accounts_are_reported_with_their_line(extra, needle, message):
    text = TEXT + "\naccounts:\n" + extra
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("m.yaml"))
    problems = caught.value.problems
    assert any(line == line_of(text, needle) and message in why
               for line, _, why in problems), problems


def test_the_org_check_covers_each_account_s_sections_with_their_lines():
    text = TEXT + ACCOUNTS.replace("LeadSource: ", "LeadSorce: ")
    problems = check_against_org(parse_mapping(text, Path("m.yaml")), text, "m.yaml", describe)
    assert [(p.line, p.text.split(":")[0]) for p in problems if p.severity == "error"] == [
        (line_of(text, "LeadSorce:"), f"accounts.{B}.objects.Lead.LeadSorce")]
