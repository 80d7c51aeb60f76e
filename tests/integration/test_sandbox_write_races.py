"""The Salesforce sandbox's write rules that concurrent and repeated writers meet: a key
twice in one upsert call, a racing upsert of a new key, per-record errors a trigger or
Salesforce itself answers, and CampaignMemberStatus.SortOrder's uniqueness."""

from __future__ import annotations

import gc

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from sandbox.salesforce import SalesforceSandbox
from sandbox.salesforce.record_faults import TRIGGER_LOCK
from sandbox.server import serve

CLIENT_ID, SECRET = "3MVG9-sandbox-client", "s3cret"
UPSERT = "composite/sobjects/Lead/WeChat_OpenId__c"


@pytest.fixture
def org(sandbox_tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    sandbox = SalesforceSandbox(client_id=CLIENT_ID, username="bridge@example.com",
                                public_key_pem=public.decode(), client_secret=SECRET)
    server = serve(sandbox.app, tls=sandbox_tls)
    token = requests.post(f"{server.url}/services/oauth2/token",
                          data={"grant_type": "client_credentials"},
                          auth=(CLIENT_ID, SECRET)).json()
    client = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                        version="62.0")
    yield sandbox, client
    client.session.close()
    gc.collect()
    server.stop()


def lead(openid: str, **fields) -> dict:
    return {"attributes": {"type": "Lead"}, "LastName": "Li", "Company": "WeChat",
            "WeChat_OpenId__c": openid, **fields}


def test_a_key_twice_in_one_upsert_refuses_both_records(org):
    sandbox, sf = org
    sandbox.seed("Lead", LastName="Old", Company="X", WeChat_OpenId__c="oB")
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": False, "records": [
        lead("oA"), lead("oB", LastName="One"), lead("oC"), lead("oB", LastName="Two")]})
    assert [r["success"] for r in results] == [True, False, True, False]
    assert results[1]["errors"] == [{"statusCode": "DUPLICATE_VALUE", "fields":
                                     ["WeChat_OpenId__c"],
                                     "message": "Duplicate external id specified: oB"}]
    assert results[3] == results[1]
    assert sorted(r["LastName"] for r in sandbox.records("Lead")) == ["Li", "Li", "Old"]


def test_a_race_fault_makes_the_upsert_of_a_new_key_lose(org):
    sandbox, sf = org
    sandbox.faults.add(endpoint=f"PATCH .*/{UPSERT}", race=True, count=1)
    lost = sf.restful(UPSERT, method="PATCH", json={"records": [lead("oNew")]})
    assert lost[0]["success"] is False
    assert lost[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert "WeChat_OpenId__c duplicates value on record with id" in \
        lost[0]["errors"][0]["message"]
    winner = sandbox.records("Lead")
    assert len(winner) == 1  # the other transaction's record
    again = sf.restful(UPSERT, method="PATCH", json={"records": [lead("oNew")]})
    assert again[0] == {"id": winner[0]["Id"], "success": True, "errors": [],
                        "created": False}


@pytest.mark.parametrize(("code", "message"), [
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", TRIGGER_LOCK),
    ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId"),
])
def test_per_record_faults(org, code, message):
    sandbox, sf = org
    sandbox.faults.add(endpoint="PATCH .*/composite/sobjects", per_record=True, code=code,
                       count=1)
    results = sf.restful(UPSERT, method="PATCH", json={"records": [lead("o1"), lead("o2")]})
    assert [r["errors"][0]["statusCode"] for r in results] == [code, code]
    assert results[0]["errors"][0]["message"].startswith(message)
    assert "UNABLE_TO_LOCK_ROW" in results[0]["errors"][0]["message"] or code != \
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert sandbox.records("Lead") == []


def test_campaign_member_status_sort_order_is_unique_per_campaign(org):
    sandbox, sf = org
    expo, fair = (sandbox.seed("Campaign", Name=n, IsActive=True) for n in ("Expo", "Fair"))
    first = sandbox.seed("CampaignMemberStatus", CampaignId=expo, Label="Sent", SortOrder=1,
                         IsDefault=True)
    sandbox.seed("CampaignMemberStatus", CampaignId=fair, Label="Sent", SortOrder=1)
    results = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "CampaignMemberStatus"}, "CampaignId": expo,
         "Label": "Scanned", "SortOrder": 1}]})
    assert results == [{"success": False, "errors": [{
        "statusCode": "DUPLICATE_VALUE", "fields": ["SortOrder"],
        "message": f"duplicate value found: SortOrder duplicates value on record with id: "
                   f"{first}"}]}]
