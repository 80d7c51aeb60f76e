"""Mapping vs. the org's describe: every problem with its line, checked against the same
describe JSON the Salesforce sandbox serves (its data API, called without HTTP)."""

from pathlib import Path

import pytest

from mappings.field_types import SOURCE_VALUES
from mappings.loader import parse_mapping
from mappings.models import SOURCES
from mappings.org_check import check_against_org
from sandbox.salesforce import SalesforceSandbox

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text()


def sandbox_org() -> SalesforceSandbox:
    return SalesforceSandbox(client_id="3MVG9unit", username="unit@bridge.sandbox",
                             public_key_pem="unused: describe needs no login")


ORG = sandbox_org()  # read-only here; a test that changes its org builds its own


def check(text: str, box: SalesforceSandbox = ORG):
    return check_against_org(parse_mapping(text, Path("m.yaml")), text, Path("m.yaml"),
                             box.describe, box.object_names())


def broken(old: str, new: str) -> str:
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


def line_of(text: str, marker: str) -> int:
    assert marker in text, marker
    return text[: text.index(marker)].count("\n") + 1


CONTACT_SECTION = next(line for line in TEXT.splitlines(True) if line.startswith("objects:"))


@pytest.mark.parametrize(
    ("text", "marker", "severity", "needle"),
    [
        # objects and fields: spelled as the org spells them
        (broken("object: WeChat_Follower__c", "object: WeChat_Folower__c"),
         "WeChat_Folower__c", "error",
         "unknown object 'WeChat_Folower__c' — did you mean 'WeChat_Follower__c'?"),
        (broken("    LastName:          {", "    LastNme:           {"), "LastNme:", "error",
         "unknown field 'LastNme' on Lead — did you mean 'LastName'?"),
        (broken("    Company:    ", "    company:    "), "company:", "error",
         "the org spells the field Lead.Company, not 'company' — did you mean 'Company'?"),
        # writes
        (broken("    Company:  ", "    IsConverted: { value: true }\n    Company:  "),
         "IsConverted:", "error", "Lead.IsConverted is not writable"),
        (broken("    Company:  ", "    Name: { value: x }\n    Company:  "), "    Name:",
         "error", "Lead.Name is not writable"),
        (broken(CONTACT_SECTION, CONTACT_SECTION + "  Contact:\n    Phone: { value: x }\n"),
         "Phone:", "warning", "never written: the bridge creates only Lead records"),
        # types
        (broken(CONTACT_SECTION, CONTACT_SECTION
                + "  Contact:\n    Birthdate: { value: true, on: always }\n"),
         "true, on", "error", "Contact.Birthdate is a date field, but the constant True gives "
         "true/false — use a unix time with transform: unix_to_date"),
        (broken("{ value: false }", '{ value: "no" }'), '"no"', "error",
         "WeChat_Follower__c.Subscribed__c is a boolean field, but the constant 'no' gives text"),
        (broken("Subscribed__c:          { source: follower.subscribed }",
                "Subscribed__c:          { source: event.create_time, "
                "transform: unix_to_datetime }"),
         "unix_to_datetime }", "error", "is a boolean field, but event.create_time | "
         "unix_to_datetime gives a date/time"),
        (broken("{ source: follower.remark }", "{ source: follower.remark, "
                "transform: unix_to_date }"), "unix_to_date }", "error",
         "unix_to_date needs unix seconds"),
        (broken('{ source: follower.tag_names, transform: "join(;)|truncate(255)" }',
                "{ source: follower.tag_names }"), "follower.tag_names }", "error",
         'add transform: "join(;)"'),
        (broken("UnionId__c:             { source: follower.unionid }",
                "Lead__c: { source: campaign.id }"), "campaign.id", "error",
         "WeChat_Follower__c.Lead__c is a lookup to Lead; lookups to the person are set "
         "through follower.link"),
        (broken('LeadSource:        { value: "WeChat" }',
                'Status: { source: follower.language, map: { zh_CN: "Open", en: x } }'),
         '"Open"', "error", "'Open' is not a value of Lead.Status"),
        (broken("{ source: event.scene }", '{ template: "{event.scene} / {follower.remark}" }'),
         "template:", "warning", "can be up to 97 characters; WeChat_Follower__c.QR_Scene__c "
         "holds 64"),
        # picklists
        (broken('LeadSource:        { value: "WeChat" }', 'LeadSource:        { value: "Wechat" }'),
         '"Wechat"', "warning", "'Wechat' is not a value of Lead.LeadSource — did you mean "
         "'WeChat'?"),
        (broken("    Company:  ", '    Status: { value: "New" }\n    Company:  '), '"New"',
         "error", "'New' is not a value of Lead.Status — use one of: Open - Not Contacted"),
        (broken("scan: Scanned", "scan: Scaned"), "Scaned", "warning",
         "'Scaned' is not a CampaignMember.Status value"),
        # lengths
        (broken('Company:           { value: "WeChat" }',
                'Company:           { value: "' + "W" * 300 + '" }'), "WWW", "error",
         "W... is 300 characters; Lead.Company holds at most 255"),
        (broken("Language__c:            { source: follower.language }",
                "Language__c:            { source: follower.remark }"), "follower.remark }",
         "warning", 'holds 16 — add fit, which cuts to the field\'s length: transform: "fit"'),
        # required on create
        (broken('    LastName:          { source: follower.remark, default: "WeChat Follower" }\n',
                ""), "    Company:", "error",
         'Lead.LastName is required when a Lead is created and the mapping does not fill it — '
         'add LastName: { source: follower.remark, default: "WeChat Follower" } under '
         "objects.Lead"),
        (broken(', default: "WeChat Follower" }', " }"), "LastName:", "error",
         "Lead.LastName is required when a Lead is created, but follower.remark can be blank"),
        # upsert keys, links and matches
        (broken("external_id: OpenId__c", "external_id: UnionId__c"), "UnionId__c ", "error",
         "WeChat_Follower__c.UnionId__c is not an External ID field"),
        (broken("{ object: Lead,    field: WeChat_OpenId__c",
                "{ object: Lead,    field: WeChat_UnionId__c"), "WeChat_UnionId__c, source",
         "warning", "Lead.WeChat_UnionId__c is not Unique"),
        (broken("{ object: Lead,    field: WeChat_OpenId__c",
                "{ object: Lead,    field: WeChat_UnionId__c"), "WeChat_UnionId__c, source",
         "warning", "is not case sensitive, but OpenIDs are"),
        (broken("Contact: Contact__c", "Contact: Lead__c"), "Lead__c\n", "error",
         "WeChat_Follower__c.Lead__c is a lookup to Lead, not a lookup to Contact — did you "
         "mean 'Contact__c'?"),
        (broken("{ object: Contact, field: WeChat_OpenId__c",
                "{ object: Contact, field: Description"), "Description", "error",
         "Contact.Description cannot be used in a query filter"),
    ],
)
def test_problems_name_the_line_and_the_fix(text, marker, severity, needle):
    problems = check(text)
    line = line_of(text, marker)
    found = [p for p in problems if p.line == line and needle in p.text]
    assert found, "\n".join(map(str, problems))
    assert found[0].severity == severity
    assert str(found[0]).startswith(f"m.yaml:{line}:")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # true/false into text, a unix time into a number, a number into a number
        ("{ source: follower.remark }", "{ source: follower.subscribed }"),
        ("{ source: event.scene }", "{ source: event.create_time }"),
        ("    Company:  ", "    NumberOfEmployees: { value: 12 }\n    Company:  "),
        ("{ source: follower.remark }", "{ source: follower.remark, transform: upper }"),
    ],
)
def test_compatible_values_are_accepted(old, new):
    text = broken(old, new)
    line = line_of(text, new.strip().splitlines()[0])
    assert [p for p in check(text) if p.line == line] == []


def test_default_mapping_has_no_errors_against_the_sandbox_org():
    problems = check(TEXT)
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_a_field_an_admin_made_required_is_reported():
    box = sandbox_org()
    box.require_fields("Lead", ["Phone"])
    problems = check(TEXT, box)
    assert any("Lead.Phone is required when a Lead is created" in p.text
               and p.line == line_of(TEXT, "    LastName:") for p in problems), problems


def test_every_problem_is_listed():
    text = broken("Contact: Contact__c", "Contact: Lead__c")
    text = text.replace("scan: Scanned", "scan: Scaned").replace("    Company:", "    company:")
    assert {p.line for p in check(text)} >= {line_of(text, m)
                                            for m in ("Lead__c\n", "Scaned", "company:")}


def test_every_source_has_a_known_kind():
    assert {f"{root}.{name}" for root, names in SOURCES.items() for name in names} == set(
        SOURCE_VALUES)


def test_unknown_object_is_suggested_without_the_org_list():
    text = broken("object: WeChat_Follower__c", "object: WeChat_Folower__c")
    problems = check_against_org(parse_mapping(text, Path("m.yaml")), text, "m.yaml",
                                 ORG.describe)
    assert [p.line for p in problems if "did you mean 'WeChat_Follower__c'?" in p.text] == [
        line_of(text, "WeChat_Folower__c")]


def test_a_field_sent_only_to_wechat_is_read_not_written():
    text = broken('    LeadSource:        { value: "WeChat" }',
                  '    LeadSource:        { value: "WeChat" }\n'
                  '    IsConverted:       { source: follower.remark, sync: to_wechat }')
    assert [p for p in check(text) if p.severity == "error"] == []
    both = text.replace("sync: to_wechat", "sync: both")  # now it would be written too
    assert any("not writable" in p.text for p in check(both) if p.severity == "error")


def test_coalesce_is_checked_like_its_sources():
    last_name = '    LastName:          { source: follower.remark, default: "WeChat Follower" }'
    never_blank = broken(last_name, "    LastName:          { coalesce: [follower.remark, "
                                    "follower.openid] }")
    assert [p for p in check(never_blank) if p.severity == "error"] == []  # an OpenID is there
    can_be_blank = broken(last_name, "    LastName:          { coalesce: [follower.remark, "
                                     "follower.unionid] }")
    assert any("LastName is required" in p.text for p in check(can_be_blank))
    wrong_type = broken("    Subscribed__c:          { source: follower.subscribed }",
                        "    Subscribed__c:          { coalesce: [follower.remark, "
                        "follower.openid] }")
    assert any("is a boolean field" in p.text and ".coalesce" in p.text
               for p in check(wrong_type) if p.severity == "error")
