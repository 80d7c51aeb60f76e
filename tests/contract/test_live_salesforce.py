"""Every Salesforce gateway verb against a real org (``pytest -m internet``).

Needs the bridge's metadata deployed (README, "For Salesforce admins"): the writes go to
two WeChat_Follower__c records keyed ``bridge-contract-test-1/2``, upserted on every run,
so the org keeps two test records and nothing more. The error cases write nothing.
Run live, recorded or replayed: see tests/contract/conftest.py.
"""

from __future__ import annotations

import pytest

from connector.errors import BridgeError, FatalError
from connector.salesforce import SalesforceGateway

SYSTEM = "salesforce"
FOLLOWER, KEY = "WeChat_Follower__c", "OpenId__c"
KEYS = ("bridge-contract-test-1", "bridge-contract-test-2")

pytestmark = pytest.mark.internet


@pytest.fixture
def gateway(live):
    gw = SalesforceGateway(live.settings)
    yield gw
    gw.close()


def test_login_identity_versions_and_limits(gateway, live):
    identity = gateway.identity()
    assert identity.org_id.startswith("00D") and identity.user_id.startswith("005")
    assert live.settings.SALESFORCE_API_VERSION in gateway.versions()
    daily = gateway.limits()["DailyApiRequests"]
    assert 0 <= daily["Remaining"] <= daily["Max"]


def test_describes(gateway):
    lead = gateway.describe("Lead")
    assert {"LastName", "Company", "OwnerId"} <= {f["name"] for f in lead["fields"]}
    assert gateway.describe_if_exists("Bridge_No_Such_Object__c") is None
    names = {o["name"] for o in gateway.describe_global()["sobjects"]}
    assert {"Lead", "Contact", FOLLOWER} <= names


def test_upserts_updates_and_reads(gateway):
    results = gateway.upsert_many(FOLLOWER, KEY, [{KEY: k, "Language__c": "en"} for k in KEYS])
    assert [r.success for r in results] == [True, True]
    again = gateway.upsert(FOLLOWER, KEY, KEYS[0], {"Language__c": "zh_CN"})
    assert again.success and again.created is False
    rows = gateway.query(f"SELECT Id, {KEY}, Language__c FROM {FOLLOWER} "
                         f"WHERE {KEY} IN {{keys}} ORDER BY {KEY}", keys=list(KEYS))
    assert [r[KEY] for r in rows] == list(KEYS)
    assert rows[0]["Language__c"] == "zh_CN"
    updated = gateway.update_many(FOLLOWER, [{"Id": r["Id"], "Language__c": "en"}
                                             for r in rows])
    assert all(r.success for r in updated)
    gateway.update(FOLLOWER, rows[1]["Id"], {"Language__c": "zh_TW"})
    assert gateway.get(FOLLOWER, rows[1]["Id"])["Language__c"] == "zh_TW"
    assert gateway.query_count(f"SELECT COUNT() FROM {FOLLOWER} WHERE {KEY} IN {{keys}}",
                               keys=list(KEYS)) == 2


def test_refusals_have_the_shapes_the_bridge_reads(gateway):
    # a second record with a unique key: a per-record DUPLICATE_VALUE, nothing written
    results = gateway.create_many(FOLLOWER, [{KEY: KEYS[0]}])
    assert not results[0].success
    assert results[0].errors[0].code == "DUPLICATE_VALUE"
    with pytest.raises(BridgeError) as missing:
        gateway.create("Lead", {"Company": "WeChat Bridge contract test"})
    assert missing.value.code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in missing.value.fields
    with pytest.raises(FatalError) as malformed:
        gateway.query("SELECT Id FROM Lead WHERE")
    assert malformed.value.code == "MALFORMED_QUERY"
