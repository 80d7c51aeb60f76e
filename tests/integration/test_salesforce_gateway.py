"""The gateway against the Salesforce sandbox over real HTTPS.

One sandbox server per module; each test gets its own gateway (its own login) and
unique external ids, and leaves no faults behind.
"""

from __future__ import annotations

import logging
import random
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from connector.in_call import Pacing
from connector.inbound.apply import find_persons
from connector.salesforce import COLLECTION_SIZE, CollectionWrite, SalesforceGateway
from connector.settings import load_settings
from mappings.plan import EventPlan, Lookup, PersonPlan
from sandbox.salesforce import SalesforceSandbox
from sandbox.server import serve

CLIENT_ID = "3MVG9sandboxConsumerKey"
USERNAME = "integration@bridge.example.com"
CLIENT_SECRET = "sandbox-consumer-secret"
FOLLOWER = "WeChat_Follower__c"


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _pem_pair()


@pytest.fixture(scope="module")
def sandbox(keys):
    return SalesforceSandbox(client_id=CLIENT_ID, username=USERNAME, public_key_pem=keys[1],
                             client_secret=CLIENT_SECRET)


@pytest.fixture(scope="module")
def server(sandbox, sandbox_tls):
    running = serve(sandbox.app, tls=sandbox_tls)
    yield running
    running.stop()


@pytest.fixture
def make_gateway(server, sandbox, keys, sandbox_tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    made: list[SalesforceGateway] = []

    def make(*, pacing: Pacing | None = None, **overrides) -> SalesforceGateway:
        values = {
            "SALESFORCE_LOGIN_URL": server.url,
            "SALESFORCE_CLIENT_ID": CLIENT_ID,
            "SALESFORCE_USERNAME": USERNAME,
            "SALESFORCE_PRIVATE_KEY": keys[0],
            "SALESFORCE_CLIENT_SECRET": None,
            "SALESFORCE_API_VERSION": "62.0",
            "SALESFORCE_JWT_AUDIENCE": "https://login.salesforce.com",  # a production org
            "SALESFORCE_TIMEOUT": 5.0,
            "WECHAT_APP_ID": "wx0123456789abcdef",
            "WECHAT_APP_SECRET": "not-a-secret",
            "WECHAT_TOKEN": "token123",
        }
        values.update(overrides)
        # the in-call retries' jitter pinned, their waits real (a second at most)
        gateway = SalesforceGateway(load_settings(**values),
                                    pacing=pacing or Pacing(rng=random.Random(0)))
        made.append(gateway)
        return gateway

    yield make
    sandbox.faults.clear()
    for gateway in made:
        gateway.close()


@pytest.fixture
def gateway(make_gateway) -> SalesforceGateway:
    return make_gateway()


def unique(prefix: str = "o") -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def lead(openid: str, **fields) -> dict:
    return {"LastName": "Follower", "Company": "WeChat", "WeChat_OpenId__c": openid, **fields}


# -- login and sessions -----------------------------------------------------------------


def test_jwt_login_is_lazy_and_reused(gateway, sandbox):
    openid = unique()
    sandbox.seed("Lead", **lead(openid))
    assert gateway.login_calls == 0
    for _ in range(2):
        rows = gateway.query("SELECT Id, LastName FROM Lead WHERE WeChat_OpenId__c = {o}",
                             o=openid)
        assert [r["LastName"] for r in rows] == ["Follower"]
        assert "attributes" not in rows[0]
    assert (gateway.login_calls, gateway.api_calls) == (1, 2)


def test_a_wrong_jwt_audience_names_the_audiences_to_try(make_gateway):
    # Unset, the audience is guessed from the login URL: the sandbox's own URL, which no
    # org takes (a My Domain URL neither).
    gateway = make_gateway(SALESFORCE_JWT_AUDIENCE=None)
    with pytest.raises(ConfigurationError) as caught:
        gateway.query("SELECT Id FROM Lead LIMIT 1")
    message = caught.value.message
    assert caught.value.code == "invalid_grant" and "audience is invalid" in message
    for text in ("https://login.salesforce.com", "https://test.salesforce.com",
                 "Experience Cloud", "SALESFORCE_JWT_AUDIENCE"):
        assert text in message


def test_client_credentials_login_without_a_key(make_gateway):
    gateway = make_gateway(SALESFORCE_PRIVATE_KEY=None, SALESFORCE_CLIENT_SECRET=CLIENT_SECRET)
    assert gateway.query_count("SELECT COUNT() FROM Lead WHERE WeChat_OpenId__c = {o}",
                               o=unique()) == 0
    assert gateway.login_calls == 1


def test_a_key_the_connected_app_does_not_know_is_a_configuration_error(make_gateway):
    gateway = make_gateway(SALESFORCE_PRIVATE_KEY=_pem_pair()[0])
    with pytest.raises(ConfigurationError) as caught:
        gateway.limits()
    assert caught.value.code == "invalid_grant"
    assert "certificate may not match" in caught.value.message
    assert gateway.api_calls == 0


def test_expired_sessions_cost_one_new_login(gateway, sandbox):
    gateway.describe("Lead")
    sandbox.expire_sessions()
    assert gateway.query_count("SELECT COUNT() FROM Lead WHERE WeChat_OpenId__c = {o}",
                               o=unique()) == 0
    assert gateway.login_calls == 2


def test_a_session_refused_twice_is_raised_after_one_new_login(gateway, sandbox):
    gateway.describe("Lead")
    sandbox.faults.add(endpoint=r"^GET .*/query", status=401, code="INVALID_SESSION_ID",
                       count=2)
    with pytest.raises(RetriableError) as caught:
        gateway.query("SELECT Id FROM Lead LIMIT 1")
    assert (caught.value.status, caught.value.code) == (401, "INVALID_SESSION_ID")
    assert gateway.login_calls == 2


# -- failures of a whole call -------------------------------------------------------------


def test_a_slow_answer_is_tried_again_within_the_call(make_gateway, sandbox, caplog):
    gateway = make_gateway(SALESFORCE_TIMEOUT=0.3)
    gateway.describe("Lead")  # log in first: the fault is about the data call
    calls = gateway.api_calls
    sandbox.faults.add(endpoint=r"^GET .*/query", latency_ms=1500, count=1)
    with caplog.at_level(logging.WARNING, logger="connector.salesforce"):
        assert gateway.query("SELECT Id FROM Lead LIMIT 1") is not None
    assert gateway.api_calls - calls == 2
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 1 and retries[0].levelno == logging.WARNING
    assert "TIMEOUT" in retries[0].getMessage()
    assert "SELECT" not in retries[0].getMessage()  # no SOQL (personal data) in the log


def test_a_slow_answer_times_out_as_retriable_after_the_bound(make_gateway, sandbox):
    gateway = make_gateway(SALESFORCE_TIMEOUT=0.3)
    gateway.describe("Lead")
    calls = gateway.api_calls
    sandbox.faults.add(endpoint=r"^GET .*/query", latency_ms=1500)
    with pytest.raises(RetriableError) as caught:
        gateway.query("SELECT Id FROM Lead LIMIT 1")
    assert caught.value.code == "TIMEOUT"
    assert gateway.api_calls - calls == Pacing().attempts


def test_a_reset_connection_is_tried_again_within_the_call(gateway, sandbox):
    openid = unique()
    sandbox.seed("Lead", **lead(openid))
    gateway.describe("Lead")
    sandbox.faults.add(endpoint=r"^GET .*/query", reset=True, count=1)
    rows = gateway.query("SELECT Id FROM Lead WHERE WeChat_OpenId__c = {o}", o=openid)
    assert len(rows) == 1
    assert gateway.api_calls == 3  # describe, the reset query, its repeat


def test_a_create_whose_answer_was_lost_is_not_sent_again(make_gateway, sandbox):
    # The emulator writes the record after the delay: Salesforce committed it, the bridge
    # never heard. A repeat would create a second Lead.
    gateway = make_gateway(SALESFORCE_TIMEOUT=0.3)
    gateway.describe("Lead")
    openid = unique()
    sandbox.faults.add(endpoint=r"^POST .*/composite/sobjects", latency_ms=800, count=1)
    with pytest.raises(RetriableError) as caught:
        gateway.create_many("Lead", [lead(openid)])
    assert caught.value.code == "TIMEOUT"
    assert gateway.api_calls == 2  # describe, and the create once


def test_a_reset_create_is_not_sent_again(gateway, sandbox):
    gateway.describe("Lead")
    sandbox.faults.add(endpoint=r"^POST .*/composite/sobjects", reset=True, count=1)
    with pytest.raises(RetriableError) as caught:
        gateway.create_many("Lead", [lead(unique())])
    assert caught.value.code == "CONNECTION"
    assert gateway.api_calls == 2


def test_an_upsert_answered_503_once_is_tried_again(gateway, sandbox):
    openid = unique()
    sandbox.faults.add(endpoint=r"^PATCH .*/composite/sobjects", status=503,
                       code="SERVER_UNAVAILABLE", count=1)
    [result] = gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead(openid)])
    assert result.success and result.created
    assert gateway.api_calls == 2
    assert len(gateway.query("SELECT Id FROM Lead WHERE WeChat_OpenId__c = {o}",
                             o=openid)) == 1


def test_503_is_retriable_after_the_bound(gateway, sandbox):
    sandbox.faults.add(endpoint=r"^PATCH .*/composite/sobjects", status=503,
                       code="SERVER_UNAVAILABLE")
    with pytest.raises(RetriableError) as caught:
        gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead(unique())])
    assert (caught.value.status, caught.value.code) == (503, "SERVER_UNAVAILABLE")
    assert not isinstance(caught.value, RateLimitedError)
    assert gateway.api_calls == Pacing().attempts


def test_an_expired_session_and_a_503_in_one_call(gateway, sandbox):
    gateway.describe("Lead")
    sandbox.expire_sessions()
    sandbox.faults.add(endpoint=r"^GET .*/query", status=503, count=1)
    assert gateway.query_count("SELECT COUNT() FROM Lead WHERE WeChat_OpenId__c = {o}",
                               o=unique()) == 0
    assert gateway.login_calls == 2
    assert gateway.api_calls == 4  # describe; refused, 503, answered


def test_request_limit_exceeded_is_rate_limited(gateway, sandbox):
    sandbox.faults.add(endpoint=r"^GET .*/query", status=403, code="REQUEST_LIMIT_EXCEEDED",
                       count=1)
    with pytest.raises(RateLimitedError) as caught:
        gateway.query("SELECT Id FROM Lead LIMIT 1")
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"


def test_required_field_missing_is_fatal_and_names_the_field(gateway):
    with pytest.raises(FatalError) as caught:
        gateway.create("Lead", {"Company": "WeChat", "WeChat_OpenId__c": unique()})
    error = caught.value
    assert error.code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in error.fields
    assert "LastName" in error.message and "objects.Lead" in error.message


def test_unknown_field_is_a_configuration_error(gateway):
    with pytest.raises(ConfigurationError) as caught:
        gateway.query("SELECT Id, Shoe_Size__c FROM Lead")
    assert caught.value.status == 400


# -- writes ------------------------------------------------------------------------------


def test_upsert_creates_then_updates(gateway, sandbox):
    openid = unique()
    first = gateway.upsert(FOLLOWER, "OpenId__c", openid, {"Language__c": "zh_CN"})
    second = gateway.upsert(FOLLOWER, "OpenId__c", openid, {"Language__c": "en"})
    assert (first.success, first.created) == (True, True)
    assert (second.success, second.created, second.id) == (True, False, first.id)
    stored = [r for r in sandbox.records(FOLLOWER) if r.get("OpenId__c") == openid]
    assert [r["Language__c"] for r in stored] == ["en"]


def test_upsert_many_with_one_bad_record_writes_the_others(gateway, sandbox):
    good = [unique(), unique()]
    records = [lead(good[0]), {"Company": "WeChat", "WeChat_OpenId__c": unique()},
               lead(good[1])]
    results = gateway.upsert_many("Lead", "WeChat_OpenId__c", records)
    assert [r.success for r in results] == [True, False, True]
    assert [r.created for r in results] == [True, False, True]
    (error,) = results[1].errors
    assert isinstance(error, FatalError) and error.code == "REQUIRED_FIELD_MISSING"
    assert error.fields == ["LastName"]
    stored = {r.get("WeChat_OpenId__c") for r in sandbox.records("Lead")}
    assert set(good) <= stored

    again = gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead(good[0], FirstName="Wei")])
    assert (again[0].created, again[0].id) == (False, results[0].id)


def test_collections_go_in_requests_of_200_five_to_a_composite_call(gateway, sandbox):
    records = [lead(unique()) for _ in range(COLLECTION_SIZE * 2 + 1)]
    gateway.describe("Lead")
    before, counted = gateway.api_calls, sandbox.api_calls.get("composite", 0)
    results = gateway.upsert_many("Lead", "WeChat_OpenId__c", records)
    # three requests (200, 200, 1) in one composite call, one API call in the org's count
    assert gateway.api_calls - before == 1
    assert sandbox.api_calls.get("composite", 0) - counted == 1
    assert len(results) == len(records) and all(r.success and r.created for r in results)
    more = [lead(unique()) for _ in range(COLLECTION_SIZE * 5 + 1)]  # six requests
    before = gateway.api_calls
    results = gateway.upsert_many("Lead", "WeChat_OpenId__c", more)
    assert gateway.api_calls - before == 2
    stored = {r["WeChat_OpenId__c"]: r["Id"] for r in sandbox.records("Lead")}
    assert [r.id for r in results] == [stored[r["WeChat_OpenId__c"]] for r in more]


def test_one_bad_record_of_one_request_fails_alone(gateway, sandbox):
    records = [lead(unique()) for _ in range(COLLECTION_SIZE + 50)]
    bad = COLLECTION_SIZE + 7  # in the second request of the composite call
    records[bad] = {"Company": "WeChat", "WeChat_OpenId__c": unique()}  # no LastName
    results = gateway.create_many("Lead", records)
    assert [i for i, r in enumerate(results) if not r.success] == [bad]
    assert results[bad].errors[0].code == "REQUIRED_FIELD_MISSING"
    stored = {r.get("WeChat_OpenId__c") for r in sandbox.records("Lead")}
    assert {r["WeChat_OpenId__c"] for i, r in enumerate(records) if i != bad} <= stored


def test_several_writes_go_together_and_a_refused_request_raises_its_error(gateway):
    openids = [unique() for _ in range(3)]
    before = gateway.api_calls
    leads, followers = gateway.write_collections([
        CollectionWrite("upsert", "Lead", [lead(o) for o in openids], key="WeChat_OpenId__c"),
        CollectionWrite("upsert", "WeChat_Follower__c", [{"OpenId__c": o} for o in openids],
                        key="OpenId__c")])
    assert gateway.api_calls - before == 1
    assert all(r.success for r in leads + followers)
    with pytest.raises(FatalError) as caught:  # the whole second request is refused
        gateway.write_collections([
            CollectionWrite("upsert", "Lead", [lead(unique())], key="WeChat_OpenId__c"),
            CollectionWrite("update", "Lead", [{"Id": leads[0].id, "NoSuchField__c": 1}])])
    assert caught.value.code == "INVALID_FIELD"


def test_create_many_update_many_get_and_update(gateway, sandbox):
    created = gateway.create_many("Lead", [lead(unique()), lead(unique())])
    ids = [r.id for r in created]
    assert all(r.success and r.created for r in created)
    updated = gateway.update_many("Lead", [{"Id": ids[0], "FirstName": "Mei"},
                                           {"Id": ids[1], "Status": "No Such Status"}])
    assert [r.success for r in updated] == [True, False]
    assert updated[1].errors[0].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    gateway.update("Lead", ids[1], {"FirstName": "Lan"})
    assert gateway.get("Lead", ids[0])["FirstName"] == "Mei"
    assert gateway.get("Lead", ids[1])["FirstName"] == "Lan"


def test_a_record_that_does_not_exist_is_skippable(gateway):
    record_id = gateway.create("Lead", lead(unique()))
    missing = record_id[:3] + "Z" * 12  # same object prefix, no such record
    with pytest.raises(SkippableError) as caught:
        gateway.get("Lead", missing)
    assert caught.value.status == 404


# -- reads -------------------------------------------------------------------------------


def test_soql_injection_through_a_parameter_stays_a_literal(gateway, sandbox):
    tag = unique("t")
    sandbox.seed("Lead", **lead(unique(), LastName=tag))
    attack = f"{tag}' OR LastName != 'x"
    rows = gateway.query("SELECT Id FROM Lead WHERE LastName = {name}", name=attack)
    assert rows == []
    sandbox.seed("Lead", **lead(unique(), LastName=attack))
    rows = gateway.query("SELECT LastName FROM Lead WHERE LastName = {name}", name=attack)
    assert [r["LastName"] for r in rows] == [attack]


def test_describe_is_cached_and_limits_are_read(gateway):
    first = gateway.describe("Lead")
    calls = gateway.api_calls
    assert gateway.describe("Lead") is first
    assert gateway.api_calls == calls
    assert any(f["name"] == "LastName" for f in first["fields"])
    assert "DailyApiRequests" in gateway.limits()


# -- long IN lists -------------------------------------------------------------------------

def long_email(n: int, tag: str) -> str:
    """75 characters: 86 bytes in a query's URL (quoted, ``@`` encoded, a comma)."""
    return f"wechat.follower.{n:05d}.{tag}@long-company-domain.example.com"


def person_plan(email: str) -> EventPlan:
    person = PersonPlan(lookups=(Lookup("Lead", "Email", email),), create_object=None,
                        create_key=None)
    return EventPlan(key=f"k-{email}", openid=f"o-{email}", create_time=0,
                     follower_object=FOLLOWER, follower_key_field="WeChat_OpenId__c",
                     follower_fields={}, link_fields={}, person=person)


def test_a_lookup_of_2000_long_emails_stays_under_the_uri_limit(gateway, sandbox):
    # 200 of these emails make a query URI of about 17 KB once URL-encoded, over the
    # 16,384 bytes Salesforce takes (the sandbox answers 414 like it): the lookup is cut
    # by encoded length, not by count.
    tag = unique("e")
    emails = [long_email(n, tag) for n in range(2000)]
    known = {emails[n]: sandbox.seed("Lead", **lead(unique(), Email=emails[n]))
             for n in (0, 199, 200, 1234, 1999)}
    gateway.describe("Lead")  # logged in
    before = gateway.api_calls
    found = find_persons(gateway, [person_plan(e) for e in emails])
    calls = gateway.api_calls - before
    hits = {value: rows[0]["Id"] for (_obj, _fld, value), rows in found.items() if rows}
    assert hits == known
    # 2,000 x 86 bytes = 172 KB, in queries of at most URI_BUDGET (14,336) bytes with
    # their address and SELECT: 13 of them (ten would hold 200 emails each, too long),
    # sent five to a composite call: 3 calls.
    assert calls == 3
    assert sandbox.api_calls["composite"] >= 3


def test_in_lists_are_cut_by_encoded_length_not_count(gateway, sandbox):
    tag = unique("e")
    ids = [sandbox.seed("Lead", **lead(unique(), Email=long_email(n, tag)))
           for n in range(900)]
    gateway.describe("Lead")
    before = gateway.api_calls
    rows = gateway.query_in("SELECT Id FROM Lead WHERE Id IN {ids}", split="ids", ids=ids)
    # 24 KB of ids: two queries, in one composite call
    assert [r["Id"] for r in rows] == ids and gateway.api_calls - before == 1
    before = gateway.api_calls
    emails = [long_email(n, tag) for n in range(900)]
    rows = gateway.query_in("SELECT Id FROM Lead WHERE Email IN {emails} OR Id IN {ids}",
                            split="emails", emails=emails + [e.upper() for e in emails],
                            ids=ids[:3])
    # Each record once, though the upper-case copies (later pieces) and the three ids
    # (every piece) match it again.
    assert sorted(r["Id"] for r in rows) == sorted(ids)
    assert gateway.api_calls - before == 3  # 1,800 x 86 bytes = 155 KB: 11 queries, 5 a call
    assert gateway.query_in("SELECT Id FROM Lead WHERE Id IN {ids}", split="ids", ids=[]) == []
    with pytest.raises(FatalError, match="no parameter 'values'"):
        gateway.query_in("SELECT Id FROM Lead WHERE Id IN {ids}", split="values", ids=ids)
    with pytest.raises(FatalError) as caught:
        gateway.query_in("SELECT Id FROM Lead WHERE Email IN {e}", split="e", e=["x" * 15_000])
    assert caught.value.code == "SOQL_PARAMETER" and "15000 characters" in str(caught.value)


def test_queries_sent_together_fail_as_each_would_alone(gateway, sandbox):
    # The pieces of one list go five to a composite call; a piece Salesforce refuses
    # raises its own error, as the query sent alone would.
    tag = unique("e")
    emails = [long_email(n, tag) for n in range(400)]
    with pytest.raises(FatalError) as caught:
        gateway.query_in("SELECT Id, NoSuchField__c FROM Lead WHERE Email IN {e}", split="e",
                         e=emails)
    assert caught.value.code == "INVALID_FIELD" and "NoSuchField__c" in str(caught.value)
    # a piece that reads more than one page of records follows its nextRecordsUrl
    campaign = sandbox.seed("Campaign", Name=unique("c"))
    people = [sandbox.seed("Lead", **lead(unique(), Email=f"p{n}.{tag}@example.com"))
              for n in range(2100)]
    rows = gateway.query_in("SELECT Id FROM Lead WHERE Id IN {ids} OR Id = {c}",
                            split="ids", ids=people, c=campaign)
    assert sorted(r["Id"] for r in rows) == sorted(people)


def test_parent_fields_through_relationships(gateway, sandbox):
    campaign = sandbox.seed("Campaign", Name=unique("c"))
    lead_id = sandbox.seed("Lead", **lead(unique(), Email="li@example.com"))
    contact_id = sandbox.seed("Contact", LastName="Chen", Email="chen@example.com")
    for person in ({"LeadId": lead_id}, {"ContactId": contact_id}):
        sandbox.seed("CampaignMember", CampaignId=campaign, **person)
    soql = ("SELECT Lead.Email, Contact.Email FROM CampaignMember WHERE CampaignId = {c} "
            "ORDER BY Contact.Email NULLS LAST")
    assert gateway.query(soql, c=campaign) == [
        {"Lead": None, "Contact": {"Email": "chen@example.com"}},
        {"Lead": {"Email": "li@example.com"}, "Contact": None}]
    raw = gateway.query(soql, c=campaign, keep_attributes=True)
    assert raw[1]["Lead"]["attributes"] == {
        "type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}"}
    with pytest.raises(FatalError) as caught:
        gateway.query("SELECT Leads.Email FROM CampaignMember")
    assert caught.value.code == "INVALID_FIELD" and "'Leads'" in str(caught.value)


def test_users_are_parents_too(gateway, sandbox):
    # The org's users are records: CreatedBy.Name reads the admin who seeded the Lead,
    # LastModifiedBy the integration user that changed it through the API.
    lead_id = sandbox.seed("Lead", **lead(unique()))
    gateway.update("Lead", lead_id, {"FirstName": "Wei"})
    rows = gateway.query("SELECT CreatedBy.Name, LastModifiedBy.Username, "
                         "LastModifiedBy.IsActive FROM Lead WHERE Id = {id}", id=lead_id)
    assert rows == [{"CreatedBy": {"Name": "Org Admin"},
                     "LastModifiedBy": {"Username": USERNAME, "IsActive": True}}]
    users = gateway.query("SELECT Id, Name FROM User ORDER BY Name")
    assert [u["Name"] for u in users] == ["Integration User", "Org Admin"]
    with pytest.raises(FatalError):  # a User needs a Profile, which the sandbox has not
        gateway.create("User", {"Username": "x@example.com", "LastName": "X", "Alias": "x",
                                "Email": "x@example.com"})
