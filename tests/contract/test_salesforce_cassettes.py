"""The gateway against real Salesforce answer shapes, replayed from cassettes/salesforce/.

The cassettes are hand-written in plain vcrpy format; their answer bodies are the
reference vectors V1, V2, V3b, V3c and V3d (recorded from real orgs or the REST docs),
verbatim. Login goes through the JWT bearer flow; its assertion is scrubbed before
matching, so the request bodies of every interaction are checked.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.errors import ConfigurationError, FatalError, RetriableError
from connector.salesforce import SalesforceGateway, SaveResult
from connector.settings import load_settings


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def gateway(private_key_pem):
    settings = load_settings(
        SALESFORCE_LOGIN_URL="https://login.salesforce.com",
        SALESFORCE_CLIENT_ID="3MVG9fakeConsumerKey",
        SALESFORCE_USERNAME="integration@example.com",
        SALESFORCE_PRIVATE_KEY=private_key_pem,
        SALESFORCE_CLIENT_SECRET=None,
        SALESFORCE_API_VERSION="50.0",  # the version the real recordings used
        WECHAT_APP_ID="wx0123456789abcdef",
        WECHAT_APP_SECRET="not-a-secret",
        WECHAT_TOKEN="token123",
    )
    gw = SalesforceGateway(settings)
    yield gw
    gw.close()


def play(cassette_vcr, name):
    # every interaction must be used exactly once: a missing call fails the test too
    return cassette_vcr.use_cassette(f"salesforce/{name}.yaml", allow_playback_repeats=False)


def test_v1_query_strips_attributes_and_reads_api_usage(cassette_vcr, gateway):
    with play(cassette_vcr, "query_v1") as cassette:
        rows = gateway.query("SELECT Id FROM User LIMIT {n}", n=1)
    assert rows == [{"Id": "0051F00000nc59NQAQ"}]
    assert cassette.all_played
    assert (gateway.api_calls, gateway.login_calls) == (1, 1)
    assert gateway.last_api_usage == (18, 5000)


def test_v1_query_keeps_attributes_when_asked(cassette_vcr, gateway):
    with play(cassette_vcr, "query_v1"):
        rows = gateway.query("SELECT Id FROM User LIMIT 1", keep_attributes=True)
    assert rows[0]["attributes"]["type"] == "User"


def test_expired_session_costs_one_new_login_and_one_repeat(cassette_vcr, gateway):
    with play(cassette_vcr, "relogin_expired_session") as cassette:
        rows = gateway.query("SELECT Id FROM User LIMIT 1")
    assert rows == [{"Id": "0051F00000nc59NQAQ"}]
    assert cassette.all_played
    assert (gateway.api_calls, gateway.login_calls) == (2, 2)


def test_v2_upsert_many_reports_created_per_record(cassette_vcr, gateway):
    people = [("Nichael", "Michael.Bluth@example.com"), ("George Oscar", "GOB.Bluth@example.com"),
              ("Lindsay", "lindsay.bluth@example.com"), ("Annyong", "annyong.bluth@example.com")]
    records = [{"FirstName": first, "LastName": "Bluth", "Email": email} for first, email in people]
    with play(cassette_vcr, "upsert_many_v2") as cassette:
        results = gateway.upsert_many("Contact", "Email", records)
    assert cassette.all_played
    assert results == [
        SaveResult("0037e00001WZ310AAD", True, False),
        SaveResult("0037e00001WZ312AAD", True, False),
        SaveResult("0037e00001WZ30qAAD", True, False),
        SaveResult("0037e00001WZ316AAD", True, True),
    ]
    assert "attributes" not in records[0]  # the caller's dicts are not changed


def test_v3b_bad_query_raises_configuration_error(cassette_vcr, gateway):
    with play(cassette_vcr, "query_error_v3b"), pytest.raises(ConfigurationError) as caught:
        gateway.query("SELECT Xyzzy FROM Xyzzy ")
    error = caught.value
    assert (error.status, error.code, error.system) == (400, "INVALID_TYPE", "salesforce")
    assert "sObject type 'Xyzzy' is not supported" in error.message


def test_v3c_create_on_unknown_object_is_configuration_not_skippable(cassette_vcr, gateway):
    fields = {"IntX": "1", "DecimalX": 3.333, "DatetimeX": "2021-04-14T18:52:45.000+0000",
              "StrX": "a", "Normal": "", "Str2X": "b", "DateX": "2021-04-14",
              "TimeX": "11:59:59.000000Z", "FloatX": "3.14", "BoolX": "true"}
    with play(cassette_vcr, "create_not_found_v3c"), pytest.raises(ConfigurationError) as caught:
        gateway.create("Unreal", fields)
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")
    assert "Unreal" in caught.value.message


def test_v3d_per_record_errors_are_returned_not_raised(cassette_vcr, gateway):
    records = [{"LastName": "Smith", "Company": "Acme"}, {"LastName": "Jones", "Company": "Acme"}]
    with play(cassette_vcr, "create_many_v3d") as cassette:
        results = gateway.create_many("Lead", records)
    assert cassette.all_played
    assert [r.success for r in results] == [False, False]
    assert [r.created for r in results] == [False, False]
    first, second = results[0].errors[0], results[1].errors[0]
    assert type(first) is FatalError and first.code == "DUPLICATES_DETECTED"
    assert type(second) is RetriableError and second.code == "ALL_OR_NONE_OPERATION_ROLLED_BACK"


def test_query_follows_next_records_url(cassette_vcr, gateway):
    with play(cassette_vcr, "query_next_records") as cassette:
        rows = gateway.query("SELECT Id FROM User LIMIT 1")
    assert cassette.all_played
    assert rows == [{"Id": "0051F00000nc59NQAQ"}] * 2
    assert gateway.api_calls == 2
