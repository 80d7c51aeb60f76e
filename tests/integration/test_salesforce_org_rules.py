"""The org's own rules over real HTTPS: the Lead assignment rule (Sforce-Auto-Assign), the
duplicate rule (DUPLICATES_DETECTED, Sforce-Duplicate-Rule-Header), their setup objects
in SOQL, and the API versions collection upsert needs; first against the sandbox with
raw requests, then through the bridge's gateway."""

from __future__ import annotations

import gc
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.errors import FatalError
from connector.salesforce import SalesforceGateway
from connector.settings import load_settings
from sandbox.salesforce import SalesforceSandbox
from sandbox.server import serve

CLIENT_ID, USERNAME, SECRET = "3MVG9-rules-client", "rules@bridge.sandbox", "s3cret"
DOCTOR_ASSIGNMENT = "SELECT Name FROM AssignmentRule WHERE SobjectType = 'Lead' AND Active = true"
DOCTOR_DUPLICATES = ("SELECT DeveloperName FROM DuplicateRule WHERE SobjectType = 'Lead' "
                     "AND IsActive = true")


@pytest.fixture(scope="module")
def private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def org(sandbox_tls, monkeypatch, private_pem):
    """A fresh org (rules in their default state) on its own server: (sandbox, url)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    sandbox = SalesforceSandbox(client_id=CLIENT_ID, username=USERNAME,
                                public_key_pem="unused", client_secret=SECRET)
    server = serve(sandbox.app, tls=sandbox_tls)
    yield sandbox, server.url
    gc.collect()
    server.stop()


@pytest.fixture
def call(org):
    """A raw data-API call as the integration user (client credentials)."""
    token = requests.post(f"{org[1]}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": SECRET}).json()["access_token"]

    def _call(method: str, path: str, version: str = "62.0", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{org[1]}/services/data/v{version}/{path}",
                                headers=headers, **kwargs)
    return _call


@pytest.fixture
def make_gateway(org):
    made: list[SalesforceGateway] = []

    def make(**kwargs) -> SalesforceGateway:
        settings = load_settings(
            SALESFORCE_LOGIN_URL=org[1], SALESFORCE_CLIENT_ID=CLIENT_ID,
            SALESFORCE_CLIENT_SECRET=SECRET, SALESFORCE_TIMEOUT=5.0,
            WECHAT_APP_ID="wx0123456789abcdef", WECHAT_APP_SECRET="s",
            WECHAT_TOKEN="token123")
        gateway = SalesforceGateway(settings, **kwargs)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


def lead(**fields) -> dict:
    return {"LastName": "Li", "Company": "WeChat",
            "WeChat_OpenId__c": "o" + uuid.uuid4().hex[:20], **fields}


def owner(sandbox: SalesforceSandbox, record_id: str) -> str:
    return next(r["OwnerId"] for r in sandbox.records("Lead") if r["Id"] == record_id)


# -- the sandbox, as Salesforce answers ------------------------------------------------------

def test_the_doctor_queries_see_the_rules_as_they_are_switched(org, call):
    sandbox, url = org

    def names(soql: str) -> list:
        body = call("GET", "query", params={"q": soql}).json()
        return [next(v for k, v in r.items() if k != "attributes") for r in body["records"]]

    assert names(DOCTOR_ASSIGNMENT) == ["Lead Routing"]  # active by default
    assert names(DOCTOR_DUPLICATES) == []  # off until an admin switches it on
    requests.post(f"{url}/__sandbox__/duplicate-rule", json={"active": True})
    requests.post(f"{url}/__sandbox__/assignment-rule", json={"active": False})
    assert names(DOCTOR_DUPLICATES) == ["Standard_Lead_Duplicate_Rule"]
    assert names(DOCTOR_ASSIGNMENT) == []


def test_rules_are_read_only_through_the_api(org, call):
    rule_id = org[0].rules.assignment_rule_id
    for method, path, body in (("POST", "sobjects/AssignmentRule", {"Name": "x"}),
                               ("PATCH", f"sobjects/AssignmentRule/{rule_id}", {})):
        response = call(method, path, json=body)
        assert response.status_code == 400
        assert response.json()[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"


def test_without_the_header_every_create_and_update_runs_the_assignment_rule(org, call):
    sandbox, _ = org
    queue = sandbox.rules.queue_id
    created = call("POST", "sobjects/Lead", json=lead()).json()["id"]
    assert owner(sandbox, created) == queue
    kept = call("POST", "sobjects/Lead", json=lead(),
                headers={"Sforce-Auto-Assign": "false"}).json()["id"]
    assert owner(sandbox, kept) == sandbox.user_id  # the creator
    # an update without the header hands the Lead to the queue again; FALSE leaves it
    assert call("PATCH", f"sobjects/Lead/{kept}", json={"Phone": "1"},
                headers={"Sforce-Auto-Assign": "FALSE"}).status_code == 204
    assert owner(sandbox, kept) == sandbox.user_id
    assert call("PATCH", f"sobjects/Lead/{kept}", json={"Phone": "2"}).status_code == 204
    assert owner(sandbox, kept) == queue


def test_collection_writes_honour_the_header_and_a_rule_id(org, call):
    sandbox, _ = org
    records = [{**lead(), "attributes": {"type": "Lead"}} for _ in range(2)]
    off = call("POST", "composite/sobjects", json={"records": records},
               headers={"Sforce-Auto-Assign": "FALSE"}).json()
    assert {owner(sandbox, r["id"]) for r in off} == {sandbox.user_id}
    sandbox.rules.set_assignment(False)  # inactive, yet named by its id it applies
    named = call("POST", "composite/sobjects", json={"records": [
        {**lead(), "attributes": {"type": "Lead"}}]},
        headers={"Sforce-Auto-Assign": sandbox.rules.assignment_rule_id}).json()
    assert owner(sandbox, named[0]["id"]) == sandbox.rules.queue_id


def test_a_duplicate_is_refused_with_its_rule_and_matches(org, call):
    sandbox, _ = org
    first = sandbox.seed("Lead", **lead(Email="li@example.com"))
    sandbox.rules.set_duplicates(True)
    single = call("POST", "sobjects/Lead", json=lead(Email="LI@example.com"))
    assert single.status_code == 400
    (entry,) = single.json()
    assert set(entry) == {"duplicateResult", "errorCode", "message"}
    result = entry["duplicateResult"]
    assert entry["errorCode"] == "DUPLICATES_DETECTED" and result["allowSave"] is True
    assert result["duplicateRule"] == "Standard_Lead_Duplicate_Rule"
    assert [m["record"]["Id"] for m in result["matchResults"][0]["matchRecords"]] == [first]
    many = call("POST", "composite/sobjects", json={"records": [
        {**lead(Email="li@example.com"), "attributes": {"type": "Lead"}},
        {**lead(Email="other@example.com"), "attributes": {"type": "Lead"}}]}).json()
    assert many[0]["success"] is False and many[1]["success"] is True
    error = many[0]["errors"][0]
    assert error["statusCode"] == "DUPLICATES_DETECTED" and error["fields"] == []
    assert error["duplicateResult"]["matchResults"][0]["size"] == 1


@pytest.mark.parametrize(("action", "version", "saved"), [
    ("Allow", "62.0", True),
    ("Allow", "51.0", False),  # the header exists from API 52.0
    ("Block", "62.0", False),
])
def test_allow_save_saves_past_an_alert_only(org, call, action, version, saved):
    sandbox, _ = org
    sandbox.seed("Lead", **lead(Email="wang@example.com"))
    sandbox.rules.set_duplicates(True, action)
    response = call("POST", "sobjects/Lead", version=version, json=lead(Email="wang@example.com"),
                    headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert (response.status_code == 201) is saved


def test_collection_upsert_needs_api_46(org, call):
    body = {"records": [{**lead(), "attributes": {"type": "Lead"}}]}
    old = call("PATCH", "composite/sobjects/Lead/WeChat_OpenId__c", version="45.0", json=body)
    assert old.status_code == 404
    assert old.json() == [{"errorCode": "NOT_FOUND",
                           "message": "The requested resource does not exist"}]
    new = call("PATCH", "composite/sobjects/Lead/WeChat_OpenId__c", version="46.0", json=body)
    assert new.status_code == 200 and new.json()[0]["created"] is True


# -- the gateway ---------------------------------------------------------------------------

def test_the_gateway_runs_assignment_rules_only_on_creates_it_asks_for(org, make_gateway):
    sandbox, _ = org
    gateway = make_gateway()
    queue = sandbox.rules.queue_id
    kept, routed = gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead()]), \
        gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead()], assign=True)
    assert owner(sandbox, kept[0].id) == sandbox.user_id
    assert owner(sandbox, routed[0].id) == queue
    assert owner(sandbox, gateway.create_many("Lead", [lead()])[0].id) == sandbox.user_id
    assert owner(sandbox, gateway.create("Lead", lead(), assign=True)) == queue
    # a rep took the Lead over; the bridge's updates leave the owner alone
    sandbox.edit("Lead", routed[0].id, {"OwnerId": sandbox.admin_id})
    gateway.update_many("Lead", [{"Id": routed[0].id, "Phone": "1"}])
    gateway.update("Lead", routed[0].id, {"Phone": "2"})
    gateway.upsert_many("Lead", "WeChat_OpenId__c", [
        {"WeChat_OpenId__c": next(r["WeChat_OpenId__c"] for r in sandbox.records("Lead")
                                  if r["Id"] == routed[0].id), "Phone": "3"}])
    assert owner(sandbox, routed[0].id) == sandbox.admin_id


def test_the_gateway_queries_the_rules_for_the_doctor(org, make_gateway):
    gateway = make_gateway()
    assert gateway.query(DOCTOR_ASSIGNMENT) == [{"Name": "Lead Routing"}]
    assert gateway.query(DOCTOR_DUPLICATES) == []


def test_a_duplicate_fails_its_record_naming_the_rule_the_match_and_the_fix(org, make_gateway):
    sandbox, _ = org
    first = sandbox.seed("Lead", **lead(Email="zhao@example.com"))
    sandbox.rules.set_duplicates(True)
    results = make_gateway().create_many("Lead", [lead(Email="zhao@example.com"), lead()])
    assert [r.success for r in results] == [False, True]
    (error,) = results[0].errors
    assert isinstance(error, FatalError) and error.code == "DUPLICATES_DETECTED"
    for text in ("Standard_Lead_Duplicate_Rule", first, "salesforce_rules.allow_duplicates",
                 "52.0"):
        assert text in error.message
    saved = make_gateway(allow_duplicates=True).create_many(
        "Lead", [lead(Email="zhao@example.com")])
    assert saved[0].success


def test_a_blocking_duplicate_rule_says_nothing_saves_past_it(org, make_gateway):
    sandbox, _ = org
    sandbox.seed("Lead", **lead(Email="qian@example.com"))
    sandbox.rules.set_duplicates(True, "Block")
    results = make_gateway(allow_duplicates=True).upsert_many(
        "Lead", "WeChat_OpenId__c", [lead(Email="qian@example.com")])
    (error,) = results[0].errors
    assert "action is Block" in error.message and "Setup > Duplicate Management" in \
        error.message
