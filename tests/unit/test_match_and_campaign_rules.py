"""Matching and campaign rules: the grammar, the pure engine and write planner, and the
checks without and with an org — as tables of cases."""

from pathlib import Path

import pytest

from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.members import CampaignFacts
from connector.inbound.persons import pick, resolve_persons
from connector.inbound.writes import plan_writes
from mappings.engine import plan_event
from mappings.loader import MappingError, load_mapping, parse_mapping
from mappings.org_check import check_against_org, check_offline
from mappings.plan import Lookup
from sandbox.salesforce import SalesforceSandbox

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text()
CAMPAIGN = "7015g00000AbCdEAAZ"
LEAD, OLD_LEAD = "00Q000000000002AAA", "00Q000000000001AAA"
CONTACT = "003000000000001AAA"
MATCH = """match:
  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }
  - { object: Contact, field: WeChat_UnionId__c, source: follower.unionid, on_many: skip }
  - { object: Contact, field: Email, source: event.email, on_many: newest }
  - { object: Lead,    field: WeChat_OpenId__c, source: follower.openid }
"""
PROGRESSION = "    scan: Scanned\n  progression: [Sent, Scanned, Responded]\n"


def mapping_text(old: str = "", new: str = "", *, match: str | None = None) -> str:
    text = TEXT
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    if match is not None:
        start = text.index("match:")
        text = text[:start] + match + text[text.index("\ncreate:") + 1:]
    return text


def mapping(*args, **kw):
    return parse_mapping(mapping_text(*args, **kw), DEFAULT)


def event(kind="SCAN", scene=f"sfc_{CAMPAIGN}", at=100, openid="oF1", **extra):
    key = scene if kind == "SCAN" else f"qrscene_{scene}"
    return InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": openid,
                                     "CreateTime": str(at), "MsgType": "event", "Event": kind,
                                     "EventKey": key, **extra})


def follower(openid="oF1", unionid="uU1"):
    return Follower(openid=openid, subscribed=True, unionid=unionid)


# -- grammar and engine ----------------------------------------------------------------

def test_lookups_follow_the_rules_in_order_with_their_policies():
    plan = plan_event(event(Email="wang@example.cn"), follower(), mapping(match=MATCH))
    assert [(lk.object, lk.field, lk.value, lk.on_many, lk.follow_converted)
            for lk in plan.person.lookups] == [
        ("Contact", "WeChat_OpenId__c", "oF1", "oldest", False),
        ("Contact", "WeChat_UnionId__c", "uU1", "skip", False),
        ("Contact", "Email", "wang@example.cn", "newest", False),
        ("Lead", "WeChat_OpenId__c", "oF1", "oldest", True)]
    # without an Email in the push and a UnionID in the profile, those rules look nowhere
    plain = plan_event(event(), follower(unionid=None), mapping(match=MATCH))
    assert [lk.field for lk in plain.person.lookups] == ["WeChat_OpenId__c"] * 2


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }",
         "  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid, "
         "follow_converted: false }", "follow_converted applies to Lead rules only"),
        ("source: follower.openid }\n  - { object: Lead",
         "source: follower.openid, on_many: first }\n  - { object: Lead", "on_many"),
        ("    scan: Scanned\n", "    scan: Scanned\n  progression: [Sent, Responded]\n",
         "status 'Scanned' is not in progression"),
        ("    scan: Scanned\n", "    scan: Scanned\n  progression: [Scanned, Responded, "
         "Scanned]\n", "lists a status twice"),
        ('  scene_prefix: "sfc_"', '  scene_prefix: "sfc_"\n  resolve: { fields: X__c }',
         "resolve"),
    ],
)
def test_grammar_errors_name_the_key(old, new, needle):
    with pytest.raises(MappingError, match=needle):
        mapping(old, new)


@pytest.mark.parametrize(
    ("scene", "lookup"),
    [("sfc_spring24", Lookup("Campaign", "WeChat_Scene__c", "spring24")),
     ("other_spring24", None), ("sfc_", None)],
)
def test_a_scene_is_resolved_by_a_campaign_field(scene, lookup):
    m = mapping('  scene_prefix: "sfc_"',
                '  scene_prefix: "sfc_"\n  resolve: { field: WeChat_Scene__c }')
    plan = plan_event(event(scene=scene), follower(), m)
    assert (plan.campaign_id, plan.campaign_lookup) == (None, lookup)
    assert plan.member_status == ("Scanned" if lookup else None)


# -- picking a person ------------------------------------------------------------------

ROWS = ({"Id": OLD_LEAD, "IsConverted": False}, {"Id": LEAD, "IsConverted": False})
CONVERTED = ({"Id": LEAD, "IsConverted": True, "ConvertedContactId": CONTACT},)


@pytest.mark.parametrize(
    ("on_many", "follow", "rows", "expected"),
    [
        ("oldest", True, ROWS, ("Lead", OLD_LEAD)),
        ("newest", True, ROWS, ("Lead", LEAD)),
        ("skip", True, ROWS, None),  # several: no match for this rule
        ("skip", True, ROWS[:1], ("Lead", OLD_LEAD)),  # one is a match
        ("oldest", True, (), None),
        ("oldest", True, CONVERTED, ("Contact", CONTACT)),  # converted: its Contact
        ("oldest", False, CONVERTED, ("Lead", LEAD)),
        ("oldest", True, ({"Id": LEAD, "IsConverted": True, "ConvertedContactId": None},),
         ("Lead", LEAD)),  # converted without a Contact: the Lead itself
        ("oldest", True, LEAD, ("Lead", LEAD)),  # a bare Id is one row
    ],
)
def test_pick(on_many, follow, rows, expected):
    assert pick(Lookup("Lead", "Email", "x", on_many, follow), rows) == expected


def test_a_skipped_rule_gives_way_to_the_next_and_converted_leads_become_contacts():
    plans = [plan_event(event(), follower(), mapping(match=MATCH))]
    found = {("Contact", "WeChat_UnionId__c", "uU1"): ({"Id": CONTACT}, {"Id": "003B"}),
             ("Lead", "WeChat_OpenId__c", "oF1"): CONVERTED}
    persons = resolve_persons(plans, found)
    assert persons.found == {"oF1": ("Contact", CONTACT)} and not persons.to_create
    writes = plan_writes(plans, persons)
    assert writes[0].records[0]["Contact__c"] == CONTACT
    assert writes[-1].records[0] == {"CampaignId": CAMPAIGN, "ContactId": CONTACT,
                                     "Status": "Scanned"}


# -- campaign members ------------------------------------------------------------------

def member_writes(existing, kinds=("SCAN",), progression=PROGRESSION, statuses=None,
                  creating=False):
    m = mapping("    scan: Scanned\n", progression.replace(
        "progression", "create_missing_statuses: true\n  progression") if creating
        else progression)
    plans = [plan_event(event(kind, at=100 + i), follower(), m) for i, kind in enumerate(kinds)]
    found = {("Lead", "WeChat_OpenId__c", "oF1"): LEAD}
    members = {(CAMPAIGN[:15], LEAD): ("00v000000000001AAA", existing)} if existing else {}
    facts = CampaignFacts(members=members, statuses=statuses or {})
    writes = plan_writes(plans, resolve_persons(plans, found), facts)
    return [(w.action, w.object, w.records) for w in writes if "Campaign" in w.object]


@pytest.mark.parametrize(
    ("existing", "kinds", "expected"),
    [
        (None, ("SCAN",), [("create", {"Status": "Scanned"})]),
        (None, ("SCAN", "subscribe"), [("create", {"Status": "Responded"})]),  # the latest stage
        (None, ("subscribe", "SCAN"), [("create", {"Status": "Responded"})]),  # never back
        ("Sent", ("SCAN",), [("update", {"Status": "Scanned"})]),
        ("Scanned", ("subscribe",), [("update", {"Status": "Responded"})]),
        ("Responded", ("SCAN",), []),  # never lowered
        ("Scanned", ("SCAN",), []),
        ("Attended", ("subscribe",), []),  # a status outside the progression: left alone
    ],
)
def test_progression_moves_members_forward_only(existing, kinds, expected):
    writes = member_writes(existing, kinds)
    assert [(a, {k: r[k] for k in ("Status",)}) for a, _, rs in writes for r in rs] == expected
    if expected and expected[0][0] == "update":
        assert writes[0][2][0]["Id"] == "00v000000000001AAA"


def test_without_progression_the_first_status_stays():
    assert member_writes(None, ("SCAN", "subscribe"), progression="    scan: Scanned\n") \
        == [("create", "CampaignMember", ({"CampaignId": CAMPAIGN, "LeadId": LEAD,
                                           "Status": "Scanned"},))]


def test_missing_statuses_are_created_after_the_campaigns_own_before_the_members():
    writes = member_writes(None, ("SCAN", "subscribe"), creating=True,
                           statuses={CAMPAIGN[:15]: {"Sent": 1, "Scanned": 2}})
    assert [(a, o) for a, o, _ in writes] == [("create", "CampaignMemberStatus"),
                                              ("create", "CampaignMember")]
    assert writes[0][2] == ({"CampaignId": CAMPAIGN, "Label": "Responded",
                             "HasResponded": True, "SortOrder": 3},)


@pytest.mark.parametrize(("by_scene", "campaign"), [
    ({("WeChat_Scene__c", "spring24"): CAMPAIGN}, CAMPAIGN), ({}, None)])
def test_a_member_joins_the_campaign_found_by_field(by_scene, campaign):
    m = mapping('  scene_prefix: "sfc_"',
                '  scene_prefix: "sfc_"\n  resolve: { field: WeChat_Scene__c }')
    plans = [plan_event(event(scene="sfc_spring24"), follower(), m)]
    writes = plan_writes(plans, resolve_persons(plans, {}), CampaignFacts(by_scene=by_scene))
    members = [r for w in writes if w.object == "CampaignMember" for r in w.records]
    assert [r["CampaignId"] for r in members] == ([campaign] if campaign else [])


# -- checks ----------------------------------------------------------------------------

def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "marker", "needle"),
    [
        ('    Company:           { value: "WeChat" }\n', "", "    LastName:",
         'Lead.Company is required when a Lead is created and the mapping does not fill it '
         '— add Company: { value: "WeChat" } under objects.Lead'),
        ('default: "WeChat Follower" }', "}", "    LastName:",
         "Lead.LastName is required when a Lead is created, but follower.remark can be blank"),
        ("create: Lead", "create: Contact", "create: Contact",
         "Contact.LastName is required when a Contact is created"),
        ("", "", None, None),  # the default mapping fills them
    ],
)
def test_offline_check_finds_missing_required_defaults(old, new, marker, needle):
    text = mapping_text(old, new)
    if "create: Contact" in text:  # creating Contacts needs a Contact rule to upsert by
        text = text.replace("  - { object: Lead,", "  - { object: Contact, field: "
                            "WeChat_UnionId__c, source: follower.unionid }\n  - { object: Lead,")
    problems = check_offline(parse_mapping(text, DEFAULT), text, DEFAULT)
    if needle is None:
        assert problems == []
        return
    assert [(p.line, p.severity) for p in problems] == [(line_of(text, marker), "error")]
    assert needle in problems[0].text


def test_offline_check_refuses_campaign_id_where_a_field_lookup_leaves_it_blank():
    text = mapping_text('  scene_prefix: "sfc_"',
                        '  scene_prefix: "sfc_"\n  resolve: { field: WeChat_Scene__c }')
    text = text.replace("    QR_Scene__c:            { source: event.scene }",
                        "    QR_Scene__c:            { source: campaign.id }")
    [problem] = check_offline(parse_mapping(text, DEFAULT), text, DEFAULT)
    assert problem.line == line_of(text, "campaign.id") and "use event.scene" in problem.text


ORG = SalesforceSandbox(client_id="3MVG9unit", username="unit@bridge.sandbox",
                        public_key_pem="unused: describe needs no login")


def org_problems(text: str) -> list:
    return check_against_org(parse_mapping(text, DEFAULT), text, DEFAULT, ORG.describe)


@pytest.mark.parametrize(
    ("old", "new", "marker", "severity", "needle"),
    [
        ("  status:", "  resolve: { field: WeChat_Scene__c }\n  create_missing_statuses: "
         "true\n  status:", None, None, None),  # all there in the sandbox org
        ("  status:", "  resolve: { field: WeChat_Scen__c }\n  status:", "WeChat_Scen__c",
         "error", "unknown field 'WeChat_Scen__c' on Campaign — did you mean "
         "'WeChat_Scene__c'?"),
        ("  status:", "  resolve: { field: Description }\n  status:", "Description }",
         "error", "Campaign.Description (textarea) cannot be compared with a scene"),
        ("  status:", "  resolve: { field: Name }\n  status:", "Name }", "warning",
         "Campaign.Name is not Unique"),
        ("    scan: Scanned\n", "    scan: Scanned\n  progression: [Invited, Scanned, "
         "Responded]\n", "Invited", "warning",
         "'Invited' is not a CampaignMember.Status value of the org"),
    ],
)
def test_org_check_of_campaign_rules(old, new, marker, severity, needle):
    text = mapping_text(old, new)
    problems = [p for p in org_problems(text) if p.severity == "error" or marker]
    if needle is None:
        assert [str(p) for p in problems if p.severity == "error"] == []
        return
    assert any(p.line == line_of(text, marker) and p.severity == severity
               and needle in p.text for p in problems), [str(p) for p in problems]


def test_the_default_mapping_follows_converted_leads_and_the_org_has_what_that_needs():
    assert load_mapping(DEFAULT).match[1].follow_converted
    assert [str(p) for p in org_problems(TEXT) if "IsConverted" in p.text] == []
