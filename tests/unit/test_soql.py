"""SOQL subset: tokenizer/parser and evaluator, table-driven."""

from __future__ import annotations

import pytest
from simple_salesforce import format_soql

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.schema import OBJECTS, Field, Schema, SObject
from sandbox.salesforce.soql import BoolOp, Comparison, Not, parse, tokenize
from sandbox.salesforce.soql_eval import compile_query
from sandbox.salesforce.store import Store

LEADS = [
    dict(FirstName="Ada", LastName="Lovelace", Company="Acme", Email="ada@example.com",
         WeChat_OpenId__c="oAda", NumberOfEmployees=10, Status="Working - Contacted"),
    dict(FirstName="Bo", LastName="O'Brien", Company="Beta", WeChat_OpenId__c="oBo",
         NumberOfEmployees=200),
    dict(LastName="50% Off", Company="Gamma", WeChat_OpenId__c="OBO",
         Description="long text"),
    dict(FirstName="dee", LastName="lovelace", Company="acme"),
]


@pytest.fixture(scope="module")
def org():
    store = Store(Schema(), user_id="005000000000001AAA", id_seed=1)
    ids = [store.create("Lead", dict(rec)) for rec in LEADS]
    store.delete("Lead", store.create("Lead", {"LastName": "Gone", "Company": "X"}))
    return store, ids


def run(store: Store, text: str, *, include_deleted: bool = False):
    plan = compile_query(parse(text), store.schema)
    rows = store.rows(plan.sobject.name, include_deleted=include_deleted)
    return plan.execute(rows, "62.0")


def last_names(store: Store, text: str) -> list[str]:
    return [r["LastName"] for r in run(store, text)[1]]


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT LastName FROM Lead ORDER BY LastName",
     ["50% Off", "Lovelace", "lovelace", "O'Brien"]),
    ("select lastname from lead where company = 'ACME' order by firstname",
     ["Lovelace", "lovelace"]),
    ("SELECT LastName FROM Lead WHERE LastName = 'O\\'Brien'", ["O'Brien"]),
    # OpenId__c is unique and case-sensitive, so = is too.
    ("SELECT LastName FROM Lead WHERE WeChat_OpenId__c = 'oBo'", ["O'Brien"]),
    ("SELECT LastName FROM Lead WHERE WeChat_OpenId__c IN ('oAda', 'OBO') ORDER BY LastName",
     ["50% Off", "Lovelace"]),
    ("SELECT LastName FROM Lead WHERE WeChat_OpenId__c NOT IN ('oAda') AND "
     "WeChat_OpenId__c != null ORDER BY LastName", ["50% Off", "O'Brien"]),
    ("SELECT LastName FROM Lead WHERE FirstName = null", ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE 'love%' ORDER BY FirstName",
     ["Lovelace", "lovelace"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE '_o%' ORDER BY LastName",
     ["Lovelace", "lovelace"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE '50\\% %'", ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE '5_\\%%'", ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE NumberOfEmployees >= 10 ORDER BY NumberOfEmployees DESC",
     ["O'Brien", "Lovelace"]),
    ("SELECT LastName FROM Lead WHERE NumberOfEmployees < 100", ["Lovelace"]),
    ("SELECT LastName FROM Lead WHERE (Company = 'Beta' OR Company = 'Gamma') "
     "AND NOT FirstName = 'Bo'", ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE NOT (Company = 'acme') ORDER BY LastName DESC",
     ["O'Brien", "50% Off"]),
    ("SELECT LastName FROM Lead WHERE Status = 'Open - Not Contacted' ORDER BY LastName",
     ["50% Off", "lovelace", "O'Brien"]),
    ("SELECT LastName FROM Lead WHERE IsConverted = false AND IsDeleted = FALSE "
     "ORDER BY LastName LIMIT 2 OFFSET 1", ["Lovelace", "lovelace"]),
    ("SELECT LastName FROM Lead ORDER BY FirstName NULLS LAST, LastName",
     ["Lovelace", "O'Brien", "lovelace", "50% Off"]),
    ("SELECT LastName FROM Lead ORDER BY FirstName DESC", ["lovelace", "O'Brien", "Lovelace",
                                                           "50% Off"]),
    ("SELECT LastName FROM Lead ORDER BY FirstName DESC NULLS FIRST",
     ["50% Off", "lovelace", "O'Brien", "Lovelace"]),
    ("SELECT LastName FROM Lead WHERE CreatedDate > 2000-01-01T00:00:00Z AND "
     "CreatedDate < 2999-01-01T00:00:00.000+08:00 ORDER BY LastName LIMIT 1", ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE CreatedDate > 2999-01-01T00:00:00Z", []),
])
def test_query_results(org, text, expected):
    store, _ids = org
    assert last_names(store, text) == expected


@pytest.mark.parametrize(("template", "params", "expected"), [
    ("SELECT LastName FROM Lead WHERE LastName = {}", ["O'Brien"], ["O'Brien"]),
    ("SELECT LastName FROM Lead WHERE WeChat_OpenId__c IN {}", [["oAda", "oBo"]],
     ["Lovelace", "O'Brien"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE '{:like}%'", ["50%"], ["50% Off"]),
    ("SELECT LastName FROM Lead WHERE LastName LIKE '{:like}'", ["_ovelace"], []),
    ("SELECT LastName FROM Lead WHERE NumberOfEmployees = {} AND IsConverted = {}",
     [10, False], ["Lovelace"]),
    ("SELECT {:literal} FROM Lead WHERE Company = {} ORDER BY LastName", ["LastName", "Beta"],
     ["O'Brien"]),
])
def test_format_soql_output_is_accepted(org, template, params, expected):
    store, _ids = org
    assert sorted(last_names(store, format_soql(template, *params))) == sorted(expected)


def test_ids_match_in_15_and_18_character_form(org):
    store, ids = org
    for form in (ids[1], ids[1][:15]):
        assert last_names(store, format_soql("SELECT LastName FROM Lead WHERE Id = {}", form)) \
            == ["O'Brien"]


def test_count_and_query_all(org):
    store, _ids = org
    assert run(store, "SELECT COUNT() FROM Lead") == (4, [])
    assert run(store, "SELECT count() FROM Lead WHERE Company = 'acme' LIMIT 1") == (1, [])
    total, rows = run(store, "SELECT LastName, IsDeleted FROM Lead WHERE IsDeleted = true",
                      include_deleted=True)
    assert total == 1 and rows[0]["LastName"] == "Gone" and rows[0]["IsDeleted"] is True


def test_records_use_canonical_names_and_attributes(org):
    store, ids = org
    _total, rows = run(store, "SELECT id, lastname, wechat_openid__c FROM LEAD "
                              "WHERE WeChat_OpenId__c = 'oAda'")
    assert rows == [{"attributes": {"type": "Lead",
                                    "url": f"/services/data/v62.0/sobjects/Lead/{ids[0]}"},
                     "Id": ids[0], "LastName": "Lovelace", "WeChat_OpenId__c": "oAda"}]


def url(record_id: str, sobject: str) -> str:
    return f"/services/data/v62.0/sobjects/{sobject}/{record_id}"


def relationship_query(store: Store, text: str) -> list[dict]:
    plan = compile_query(parse(text), store.schema, store.lookup)
    return plan.execute(store.rows(plan.sobject.name), "62.0")[1]


def test_parent_fields_come_nested_with_attributes_and_null_when_empty():
    # SOQL Reference, "Relationship Queries": parents through the relationship name; the
    # REST answer nests each parent with its attributes, null for an empty lookup.
    store = Store(Schema(), user_id="005000000000001AAA", id_seed=2)
    account = store.create("Account", {"Name": "Acme"})
    contact = store.create("Contact", {"LastName": "Chen", "Email": "chen@example.com",
                                       "AccountId": account})
    lead = store.create("Lead", {"LastName": "Li", "Company": "X", "Email": "li@example.com"})
    campaign = store.create("Campaign", {"Name": "Spring"})
    by_lead = store.create("CampaignMember", {"CampaignId": campaign, "LeadId": lead})
    by_contact = store.create("CampaignMember", {"CampaignId": campaign, "ContactId": contact})
    rows = relationship_query(store, "SELECT Id, lead.email, Contact.Email, Contact.Account.Name,"
                                     " Contact.LastName FROM CampaignMember ORDER BY Lead.Email")
    assert rows == [
        {"attributes": {"type": "CampaignMember", "url": url(by_contact, "CampaignMember")},
         "Id": by_contact, "Lead": None,
         "Contact": {"attributes": {"type": "Contact", "url": url(contact, "Contact")},
                     "Email": "chen@example.com",
                     "Account": {"attributes": {"type": "Account", "url": url(account, "Account")},
                                 "Name": "Acme"},
                     "LastName": "Chen"}},
        {"attributes": {"type": "CampaignMember", "url": url(by_lead, "CampaignMember")},
         "Id": by_lead,
         "Lead": {"attributes": {"type": "Lead", "url": url(lead, "Lead")},
                  "Email": "li@example.com"},
         "Contact": None}]
    filtered = relationship_query(store, "SELECT Id FROM CampaignMember WHERE "
                                         "Contact.Account.Name = 'ACME' OR Lead.Email LIKE 'li@%'")
    assert sorted(r["Id"] for r in filtered) == sorted([by_lead, by_contact])


def test_a_polymorphic_parent_is_the_name_object():
    # Object Reference, "Name": a lookup to several objects (Owner, Who) reaches the Name
    # object; its attributes type is "Name" and its url the real record's.
    task = SObject("Task", "Task", "00T", (
        Field("Id", "id", length=18), Field("IsDeleted", "boolean"),
        Field("Subject", "string", length=255),
        Field("WhoId", "reference", length=18, reference_to=("Contact", "Lead"))))
    store = Store(Schema(OBJECTS + (task,)), user_id="005000000000001AAA", id_seed=3)
    lead = store.create("Lead", {"FirstName": "Mei", "LastName": "Li", "Company": "X"})
    task_id = store.create("Task", {"Subject": "Call", "WhoId": lead}, trusted=True)
    store.create("Task", {"Subject": "Nobody"}, trusted=True)
    rows = relationship_query(store, "SELECT Who.Name, Who.Type, Who.Alias, Who.FirstName "
                                     "FROM Task WHERE Who.Type = 'Lead'")
    assert rows == [{"attributes": {"type": "Task", "url": url(task_id, "Task")},
                     "Who": {"attributes": {"type": "Name", "url": url(lead, "Lead")},
                             "Name": "Mei Li", "Type": "Lead", "Alias": None,
                             "FirstName": "Mei"}}]
    with pytest.raises(SalesforceError) as caught:
        relationship_query(store, "SELECT Who.Company FROM Task")
    assert "No such column 'Company' on entity 'Name'" in caught.value.message


@pytest.mark.parametrize(("text", "code", "detail"), [
    ("SELECT Id FROM", "MALFORMED_QUERY", "ERROR at Row:1:Column:15\nunexpected token: '<EOF>'"),
    ("SELECT FROM Lead", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id Lead", "MALFORMED_QUERY", "unexpected token: 'Lead'"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "<EOF>"),
    ("SELECT Id FROM Lead WHERE Company = 'a' AND Company = 'b' OR Company = 'c'",
     "MALFORMED_QUERY", "unexpected token: 'OR'"),
    ("SELECT Id FROM Lead WHERE Company = 'open", "MALFORMED_QUERY", "mismatched character"),
    ("SELECT Id FROM Lead WHERE Company = 'a\\q'", "MALFORMED_QUERY", "Illegal character"),
    ("SELECT Id FROM Lead WHERE Company = 'a' LIMIT x", "MALFORMED_QUERY",
     "unexpected token: 'x'"),
    ("SELECT Id FROM Lead; DELETE", "MALFORMED_QUERY", "unexpected token: ';'"),
    ("SELECT Id FROM Lead WHERE Company LIKE 5", "MALFORMED_QUERY", "unexpected token: '5'"),
    ("SELECT Id FROM Xyzzy", "INVALID_TYPE", "sObject type 'Xyzzy' is not supported."),
    ("SELECT Id, Nope__c FROM Lead", "INVALID_FIELD", "No such column 'Nope__c' on entity 'Lead'"),
    ("SELECT Id FROM Lead WHERE Nope = 1", "INVALID_FIELD", "No such column 'Nope'"),
    ("SELECT Id FROM Lead ORDER BY Nope", "INVALID_FIELD", "No such column 'Nope'"),
    ("SELECT Id FROM Lead WHERE Company = 5", "INVALID_FIELD",
     "must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE IsConverted = 'true'", "INVALID_FIELD",
     "must be of type boolean and should not be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-01", "INVALID_FIELD",
     "must be of type dateTime"),
    ("SELECT Id FROM Lead WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
    ("SELECT Id FROM Lead WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR",
     "invalid ID field: nope"),
    ("SELECT Id FROM Lead LIMIT 1 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
    ("SELECT Lead2.Email FROM CampaignMember", "INVALID_FIELD",
     "Didn't understand relationship 'Lead2' in field path. If you are attempting to use a "
     "custom relationship, be sure to append the '__r' after the custom relationship name."),
    ("SELECT LeadId.Email FROM CampaignMember", "INVALID_FIELD",
     "Didn't understand relationship 'LeadId'"),
    ("SELECT Lead.Nope FROM CampaignMember", "INVALID_FIELD",
     "No such column 'Nope' on entity 'Lead'"),
    ("SELECT Id FROM CampaignMember WHERE Contact.Nope = 1", "INVALID_FIELD",
     "No such column 'Nope' on entity 'Contact'"),
])
def test_errors(org, text, code, detail):
    store, _ids = org
    with pytest.raises(SalesforceError) as caught:
        run(store, text)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert detail in caught.value.message


def test_error_message_layout_points_at_the_token():
    with pytest.raises(SalesforceError) as caught:
        parse("SELECT Id\nFROM Lead WHERE = 1")
    assert caught.value.message == ("\nFROM Lead WHERE = 1\n                ^\n"
                                    "ERROR at Row:2:Column:17\nunexpected token: '='")


def test_parse_tree_shape():
    query = parse("SELECT Id FROM Lead WHERE NOT (A = 1 OR B <> 'x') AND C IN (true, null)")
    assert isinstance(query.where, BoolOp) and query.where.op == "AND"
    negated, membership = query.where.operands
    assert isinstance(negated, Not) and negated.operand.op == "OR"
    assert negated.operand.operands[1].op == "!="
    assert isinstance(membership, Comparison) and membership.op == "IN"
    assert [lit.kind for lit in membership.value] == ["BOOLEAN", "NULL"]


@pytest.mark.parametrize(("text", "kinds"), [
    ("2024-01-01", ["DATE"]),
    ("2024-01-01T08:00:00+08:00", ["DATETIME"]),
    ("2024-01-01T00:00:00.000Z", ["DATETIME"]),
    ("-1.5 42", ["NUMBER", "NUMBER"]),
    ("a.b<=c", ["IDENT", "OP", "IDENT"]),
    ("'it\\'s' , (", ["STRING", "PUNCT", "PUNCT"]),
])
def test_tokens(text, kinds):
    assert [t.kind for t in tokenize(text)][:-1] == kinds
