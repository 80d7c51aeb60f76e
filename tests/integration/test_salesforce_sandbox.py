"""The Salesforce sandbox over real HTTPS, driven with simple-salesforce and requests."""

from __future__ import annotations

import gc
import json
import time
from urllib.parse import quote_plus

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import SalesforceSandbox
from sandbox.server import serve

CLIENT_ID, USERNAME, SECRET = "3MVG9-sandbox-client", "bridge@example.com", "s3cret"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN = "https://login.salesforce.com"
# Reference V4: describe entries recorded from a real org (API v59.0).
V4_COMPANY = json.loads('{"aggregatable":true,"aiPredictionField":false,"autoNumber":false,"byteLength":765,"calculated":false,"calculatedFormula":null,"cascadeDelete":false,"caseSensitive":false,"compoundFieldName":null,"controllerName":null,"createable":true,"custom":false,"defaultValue":null,"defaultValueFormula":null,"defaultedOnCreate":false,"dependentPicklist":false,"deprecatedAndHidden":false,"digits":0,"displayLocationInDecimal":false,"encrypted":false,"externalId":false,"extraTypeInfo":null,"filterable":true,"filteredLookupInfo":null,"formulaTreatNullNumberAsZero":false,"groupable":true,"highScaleNumber":false,"htmlFormatted":false,"idLookup":false,"inlineHelpText":null,"label":"Company","length":255,"mask":null,"maskType":null,"name":"Company","nameField":false,"namePointing":false,"nillable":false,"permissionable":false,"picklistValues":[],"polymorphicForeignKey":false,"precision":0,"queryByDistance":false,"referenceTargetField":null,"referenceTo":[],"relationshipName":null,"relationshipOrder":null,"restrictedDelete":false,"restrictedPicklist":false,"scale":0,"searchPrefilterable":false,"soapType":"xsd:string","sortable":true,"type":"string","unique":false,"updateable":true,"writeRequiresMasterRead":false}')  # noqa: E501
V4_LASTNAME = json.loads('{"aggregatable":true,"aiPredictionField":false,"autoNumber":false,"byteLength":240,"calculated":false,"calculatedFormula":null,"cascadeDelete":false,"caseSensitive":false,"compoundFieldName":"Name","controllerName":null,"createable":true,"custom":false,"defaultValue":null,"defaultValueFormula":null,"defaultedOnCreate":false,"dependentPicklist":false,"deprecatedAndHidden":false,"digits":0,"displayLocationInDecimal":false,"encrypted":false,"externalId":false,"extraTypeInfo":"personname","filterable":true,"filteredLookupInfo":null,"formulaTreatNullNumberAsZero":false,"groupable":true,"highScaleNumber":false,"htmlFormatted":false,"idLookup":false,"inlineHelpText":null,"label":"Last Name","length":80,"mask":null,"maskType":null,"name":"LastName","nameField":false,"namePointing":false,"nillable":false,"permissionable":false,"picklistValues":[],"polymorphicForeignKey":false,"precision":0,"queryByDistance":false,"referenceTargetField":null,"referenceTo":[],"relationshipName":null,"relationshipOrder":null,"restrictedDelete":false,"restrictedPicklist":false,"scale":0,"searchPrefilterable":false,"soapType":"xsd:string","sortable":true,"type":"string","unique":false,"updateable":true,"writeRequiresMasterRead":false}')  # noqa: E501


def _rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys():
    key = _rsa_key()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public


@pytest.fixture
def org(keys, sandbox_tls, monkeypatch, request):
    """A fresh sandbox on its own HTTPS server: (sandbox, base url)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    limit = getattr(request, "param", 15000)
    sandbox = SalesforceSandbox(client_id=CLIENT_ID, username=USERNAME,
                                public_key_pem=keys[1].decode(), client_secret=SECRET,
                                api_limit=limit)
    server = serve(sandbox.app, tls=sandbox_tls)
    yield sandbox, server.url
    # A client exception kept by pytest.raises sits in a reference cycle with the test's
    # frame and holds its response's socket open; the server's TLS shutdown would wait on it.
    gc.collect()
    server.stop()


def assertion(key, **claims) -> str:
    payload = {"iss": CLIENT_ID, "sub": USERNAME, "aud": LOGIN,
               "exp": int(time.time()) + 180, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256")


def login(url: str, key) -> dict:
    response = requests.post(f"{url}/services/oauth2/token",
                             data={"grant_type": JWT_GRANT, "assertion": assertion(key)})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def token(org, keys) -> dict:
    return login(org[1], keys[0])


@pytest.fixture
def sf(token):
    client = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                        version="62.0")
    yield client
    # An idle keep-alive connection would hold up the server's graceful shutdown.
    client.session.close()


@pytest.fixture
def call(org, token):
    """A raw data-API call with the session, pretty-printed like simple-salesforce asks."""
    def _call(method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token['access_token']}", "X-PrettyPrint": "1",
                   **kwargs.pop("headers", {})}
        return requests.request(method, f"{org[1]}/services/data/v62.0/{path}",
                                headers=headers, **kwargs)
    return _call


def lead(**fields) -> dict:
    return {"LastName": "Li", "Company": "WeChat", **fields}


# -- login -------------------------------------------------------------------------------

def test_jwt_login_answers_like_salesforce(org, keys):
    body = login(org[1], keys[0])
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at",
                         "scope"}
    assert body["instance_url"] == org[1] and body["token_type"] == "Bearer"
    assert body["id"].startswith(f"{org[1]}/id/00D") and body["scope"] == "api"


def test_client_credentials_login_form_and_basic(org):
    url = f"{org[1]}/services/oauth2/token"
    form = requests.post(url, data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                    "client_secret": SECRET})
    basic = requests.post(url, data={"grant_type": "client_credentials"},
                          auth=(CLIENT_ID, SECRET))
    assert form.status_code == basic.status_code == 200
    assert form.json()["access_token"] != basic.json()["access_token"]


@pytest.mark.parametrize(("claims", "other_key", "error", "description"), [
    ({}, True, "invalid_grant", "invalid assertion"),
    ({"iss": "someone-else"}, False, "invalid_client_id", "client identifier invalid"),
    ({"sub": "intruder@example.com"}, False, "invalid_grant",
     "user hasn't approved this consumer"),
    ({"aud": "https://example.com"}, False, "invalid_grant", "audience is invalid"),
    ({"exp": int(time.time()) - 600}, False, "invalid_grant", "expired authorization code"),
    ({"exp": int(time.time()) + 3600}, False, "invalid_grant", "invalid assertion expiration"),
    ({"exp": None}, False, "invalid_grant", "invalid assertion"),
])
def test_jwt_login_failures(org, keys, claims, other_key, error, description):
    key = _rsa_key() if other_key else keys[0]
    response = requests.post(f"{org[1]}/services/oauth2/token",
                             data={"grant_type": JWT_GRANT, "assertion": assertion(key, **claims)})
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_accepts_string_exp(org, keys):
    # simple-salesforce sends exp as a string, which Salesforce takes.
    token = assertion(keys[0], exp=str(int(time.time()) + 180))
    response = requests.post(f"{org[1]}/services/oauth2/token",
                             data={"grant_type": JWT_GRANT, "assertion": token})
    assert response.status_code == 200


@pytest.mark.parametrize(("kind", "taken"), [
    ("production", "https://login.salesforce.com"),
    ("sandbox", "https://test.salesforce.com"),
    ("scratch", "https://test.salesforce.com"),
])
def test_jwt_audience_is_the_one_of_the_org_kind(keys, sandbox_tls, monkeypatch, kind, taken):
    # A real org takes login.salesforce.com (production) or test.salesforce.com
    # (sandbox, scratch org), never its own My Domain URL: "audience is invalid".
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    sandbox = SalesforceSandbox(client_id=CLIENT_ID, username=USERNAME,
                                public_key_pem=keys[1].decode(), org_kind=kind)
    server = serve(sandbox.app, tls=sandbox_tls)
    try:
        others = {"https://login.salesforce.com", "https://test.salesforce.com",
                  server.url} - {taken}
        for aud in (taken, *sorted(others)):
            response = requests.post(f"{server.url}/services/oauth2/token",
                                     data={"grant_type": JWT_GRANT,
                                           "assertion": assertion(keys[0], aud=aud)})
            if aud == taken:
                assert response.status_code == 200, response.text
            else:
                assert response.status_code == 400
                assert response.json() == {"error": "invalid_grant",
                                           "error_description": "audience is invalid"}
    finally:
        gc.collect()
        server.stop()


@pytest.mark.parametrize(("data", "auth", "error"), [
    ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"},
     None, "invalid_client"),
    ({"grant_type": "client_credentials"}, ("other", SECRET), "invalid_client"),
    ({"grant_type": "password", "username": USERNAME}, None, "unsupported_grant_type"),
])
def test_token_endpoint_rejections(org, data, auth, error):
    response = requests.post(f"{org[1]}/services/oauth2/token", data=data, auth=auth)
    assert response.status_code == 400 and response.json()["error"] == error


def test_missing_bad_and_expired_sessions(org, sf, call):
    expected = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    for headers in ({}, {"Authorization": "Bearer forged"}):
        response = requests.get(f"{org[1]}/services/data/v62.0/limits", headers=headers)
        assert response.status_code == 401 and response.json() == expected
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000
    org[0].expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    assert requests.post(f"{org[1]}/__sandbox__/expire-sessions").status_code == 204


# -- records -----------------------------------------------------------------------------

def test_create_get_update_delete(org, sf, call):
    created = call("POST", "sobjects/Lead/", json=lead(FirstName="Ada"))
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "success": True, "errors": []}
    assert created.text == (f'{{\n  "id" : "{body["id"]}",\n  "success" : true,\n'
                            '  "errors" : [ ]\n}')
    record = sf.Lead.get(body["id"])
    assert record["attributes"] == {"type": "Lead",
                                    "url": f"/services/data/v62.0/sobjects/Lead/{body['id']}"}
    assert (record["Name"], record["Status"], record["IsConverted"]) == \
        ("Ada Li", "Open - Not Contacted", False)
    assert sf.Lead.get(body["id"][:15])["Id"] == body["id"]
    assert sf.Lead.update(body["id"], {"Email": "ada@example.com"}) == 204
    assert org[0].records("Lead")[0]["Email"] == "ada@example.com"
    assert sf.Lead.delete(body["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(body["id"])
    gone = sf.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in gone] == [(body["id"], True)]
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_upsert_created_then_updated_then_ambiguous(org, sf, call):
    first = call("PATCH", "sobjects/Lead/WeChat_OpenId__c/oX1", json=lead(WeChat_UnionId__c="u"))
    assert first.status_code == 201 and first.json()["created"] is True
    second = call("PATCH", "sobjects/Lead/WeChat_OpenId__c/oX1", json={"LastName": "Wang"})
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [],
                             "created": False}
    assert sf.Lead.get_by_custom_id("WeChat_OpenId__c", "oX1")["LastName"] == "Wang"
    # OpenId is case-sensitive: a different case is another follower.
    assert sf.Lead.upsert("WeChat_OpenId__c/OX1", lead(WeChat_UnionId__c="u")) == 201
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Lead.upsert("WeChat_UnionId__c/u", {"LastName": "Zhao"})
    assert sorted(caught.value.content) == sorted(
        f"/services/data/v62.0/sobjects/Lead/{r['Id']}" for r in org[0].records("Lead"))
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Lead.upsert("Email/a@b.com", lead())
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_values_are_checked_and_normalised(org, sf):
    follower = sf.WeChat_Follower__c.create({"OpenId__c": "oF", "Subscribed__c": "true",
                                             "Subscribed_At__c": "2024-01-01T08:00:00+08:00"})
    record = sf.WeChat_Follower__c.get(follower["id"])
    assert record["Subscribed__c"] is True and record["Name"] == "WF-000001"
    assert record["Subscribed_At__c"] == "2024-01-01T00:00:00.000+0000"
    for fields in ({"Subscribed__c": "yes"}, {"Subscribed_At__c": "2024-13-01T00:00:00Z"}):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.WeChat_Follower__c.update(follower["id"], fields)
        assert caught.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"


@pytest.mark.parametrize(("sobject", "fields", "code", "message", "error_fields"), [
    ("Lead", {"Company": "X"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: "
     "[LastName]", ["LastName"]),
    ("Lead", lead(Nope__c=1), "INVALID_FIELD", "No such column 'Nope__c' on sobject of type "
     "Lead", None),
    ("Lead", lead(IsConverted=True), "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to "
     "create/update fields: IsConverted. Please check the security settings of this field and "
     "verify that it is read/write for your profile or permission set.", ["IsConverted"]),
    ("Lead", lead(WeChat_OpenId__c="o" * 65), "STRING_TOO_LONG", "WeChat OpenId: data value "
     "too large: " + "o" * 65 + " (max length=64)", ["WeChat_OpenId__c"]),
    ("Lead", lead(Status="Hot"), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value "
     "for restricted picklist field: Hot", ["Status"]),
    ("Lead", lead(Email="not-an-email"), "INVALID_EMAIL_ADDRESS", "Email: invalid email "
     "address: not-an-email", ["Email"]),
    ("Lead", lead(NumberOfEmployees="many"), "JSON_PARSER_ERROR", None, None),
    ("WeChat_Follower__c", {"OpenId__c": "o", "Lead__c": "701000000000001"},
     "FIELD_INTEGRITY_EXCEPTION", "Lead: id value of incorrect type: 701000000000001AAA",
     ["Lead__c"]),
    ("WeChat_Follower__c", {"OpenId__c": "o", "Lead__c": "00Q000000000001"},
     "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Lead__c"]),
    ("CampaignMember", {"Status": "Sent"}, "REQUIRED_FIELD_MISSING", "Required fields are "
     "missing: [CampaignId, LeadId, ContactId]", ["CampaignId", "LeadId", "ContactId"]),
])
def test_write_errors(org, call, sobject, fields, code, message, error_fields):
    response = call("POST", f"sobjects/{sobject}", json=fields)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    if message is not None:
        assert error["message"] == message
    assert error.get("fields") == error_fields


def test_duplicates_and_run_time_required_fields(org, sf, call):
    sf.Contact.create({"LastName": "Li", "WeChat_OpenId__c": "oDup"})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "Wu", "WeChat_OpenId__c": "oDup"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert call("GET", "sobjects/Contact/describe").json()["fields"][-1]["name"] == "Birthdate"
    requests.post(f"{org[1]}/__sandbox__/required-fields",
                  json={"object": "Contact", "fields": ["Phone"]}).raise_for_status()
    phone = next(f for f in sf.Contact.describe()["fields"] if f["name"] == "Phone")
    assert phone["nillable"] is False
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "Wu"})
    assert caught.value.content == [{"message": "Required fields are missing: [Phone]",
                                     "errorCode": "REQUIRED_FIELD_MISSING",
                                     "fields": ["Phone"]}]

    # the admin unticks "Required" again: the field is as shipped, writes without it pass
    requests.delete(f"{org[1]}/__sandbox__/required-fields/Contact/Phone").raise_for_status()
    phone = next(f for f in sf.Contact.describe()["fields"] if f["name"] == "Phone")
    assert phone["nillable"] is True
    assert sf.Contact.create({"LastName": "Wu"})["success"] is True
    # LastName is required by Salesforce itself: unticking the sandbox's rule leaves it so
    requests.delete(f"{org[1]}/__sandbox__/required-fields/Contact/LastName").raise_for_status()
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.create({"FirstName": "Wu"})
    assert requests.delete(
        f"{org[1]}/__sandbox__/required-fields/Contact/Nope").status_code == 404


def test_not_found_shapes(org, call):
    # Reference V3c: an unknown object on create.
    unknown = call("POST", "sobjects/Unreal", json={"Name": "x"}, headers={"X-PrettyPrint": ""})
    assert unknown.status_code == 404
    assert unknown.text == ('[{"message":"The requested resource does not exist",'
                            '"errorCode":"NOT_FOUND"}]')
    assert call("GET", "nowhere").status_code == 404
    old = requests.get(f"{org[1]}/services/data/v30.0/limits",
                       headers=call("GET", "limits").request.headers)
    assert old.status_code == 404 and old.json()[0]["errorCode"] == "NOT_FOUND"
    put = call("PUT", "sobjects/Lead/00Q000000000001")
    assert put.status_code == 405 and put.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    versions = requests.get(f"{org[1]}/services/data/").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions


# -- queries -----------------------------------------------------------------------------

def test_query_layout_matches_reference_v1(org, call):
    record_id = org[0].seed("Lead", **lead())
    response = call("GET", "query/", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.text == (
        '{\n  "totalSize" : 1,\n  "done" : true,\n  "records" : [ {\n'
        '    "attributes" : {\n      "type" : "Lead",\n'
        f'      "url" : "/services/data/v62.0/sobjects/Lead/{record_id}"\n'
        f'    }},\n    "Id" : "{record_id}"\n  }} ]\n}}')


def test_query_pagination(org, sf, call):
    for n in range(450):
        org[0].seed("Lead", **lead(LastName=f"L{n:04d}"))
    first = call("GET", "query", params={"q": "SELECT LastName FROM Lead ORDER BY LastName"},
                 headers={"Sforce-Query-Options": "batchSize=150"}).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    everything = sf.query_all("SELECT LastName FROM Lead ORDER BY LastName")
    assert [r["LastName"] for r in everything["records"]] == [f"L{n:04d}" for n in range(450)]
    assert sf.query("SELECT LastName FROM Lead")["done"] is True  # default batch is 2000
    stale = call("GET", "query/01gNOPE-200")
    assert stale.status_code == 400 and stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_with_format_soql_and_errors(org, sf, call):
    org[0].seed("Lead", **lead(LastName="O'Neil", WeChat_OpenId__c="o1"))
    soql = format_soql("SELECT Id, LastName FROM Lead WHERE WeChat_OpenId__c IN {} AND "
                       "LastName = {}", ["o1", "o2"], "O'Neil")
    assert [r["LastName"] for r in sf.query(soql)["records"]] == ["O'Neil"]
    # Reference V3b: unknown object in SOQL.
    bad = call("GET", "query/", params={"q": "SELECT Xyzzy FROM Xyzzy "})
    assert bad.status_code == 400
    assert bad.json() == [{"message": "\nSELECT Xyzzy FROM Xyzzy\n                  ^\nERROR "
                           "at Row:1:Column:19\nsObject type 'Xyzzy' is not supported. If you "
                           "are attempting to use a custom object, be sure to append the '__c' "
                           "after the entity name. Please reference your WSDL or the describe "
                           "call for the appropriate names.", "errorCode": "INVALID_TYPE"}]
    for q, code in (("SELECT Nope FROM Lead", "INVALID_FIELD"),
                    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY")):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(q)
        assert caught.value.content[0]["errorCode"] == code


def _query_uri(length: int) -> str:
    """A query's request target (path and query string) of exactly ``length`` bytes."""
    head = "/services/data/v62.0/query/?q=" + quote_plus("SELECT Id FROM Lead WHERE LastName = '")
    tail = quote_plus("'")
    return head + "a" * (length - len(head) - len(tail)) + tail


def test_uri_and_headers_over_16384_bytes_are_refused_like_salesforce(org, token):
    # Salesforce's limits quick reference: the URI and headers of a REST call together
    # take at most 16,384 bytes; 414 when the URI alone is over, else 431. The body is
    # the front server's HTML (simple-salesforce issue #271), not the API's JSON.
    url, auth = org[1], {"Authorization": f"Bearer {token['access_token']}"}
    fine = requests.get(url + _query_uri(15_000), headers=auth)
    assert fine.status_code == 200 and fine.json()["totalSize"] == 0
    too_long = requests.get(url + _query_uri(16_385), headers=auth)
    assert too_long.status_code == 414
    assert too_long.text == "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>"
    assert too_long.headers["Content-Type"] == "text/html;charset=iso-8859-1"
    # A URI at the limit leaves no room for the headers.
    at_limit = requests.get(url + _query_uri(16_384), headers=auth)
    assert at_limit.status_code == 431
    assert at_limit.text == ("<h1>Bad Message 431</h1><pre>reason: Request Header Fields "
                             "Too Large</pre>")
    padded = requests.get(url + _query_uri(15_000), headers={**auth, "X-Pad": "p" * 1_400})
    assert padded.status_code == 431
    with pytest.raises(SalesforceGeneralError) as caught:  # as simple-salesforce sees it
        Salesforce(instance_url=url, session_id=token["access_token"], version="62.0").query(
            "SELECT Id FROM Lead WHERE LastName IN {}".format("('" + "b" * 17_000 + "')"))
    assert caught.value.status == 414
    assert org[0].api_calls == {"total": 1, "query": 1}  # refusals never reach the API


# -- collections and composite ----------------------------------------------------------------

def test_collection_upsert_layout_matches_reference_v2(org, call):
    existing = org[0].seed("Contact", LastName="Bluth", Email="x@example.com",
                           WeChat_OpenId__c="oM")
    records = [{"attributes": {"type": "Contact"}, "LastName": "Bluth", "WeChat_OpenId__c": o}
               for o in ("oM", "oN")]
    response = call("PATCH", "composite/sobjects/Contact/WeChat_OpenId__c",
                    json={"allOrNone": False, "records": records})
    assert response.status_code == 200
    created = next(r["Id"] for r in org[0].records("Contact") if r["Id"] != existing)
    assert response.text == (
        f'[ {{\n  "id" : "{existing}",\n  "success" : true,\n  "errors" : [ ],\n'
        f'  "created" : false\n}}, {{\n  "id" : "{created}",\n  "success" : true,\n'
        '  "errors" : [ ],\n  "created" : true\n} ]')


def test_collection_create_update_and_campaign_members(org, sf):
    campaign = org[0].seed("Campaign", Name="Expo", IsActive=True)
    leads = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Lead"}, **lead(LastName=f"L{n}")} for n in range(3)]})
    lead_ids = [r["id"] for r in leads]
    assert all(r["success"] for r in leads) and len(set(lead_ids)) == 3
    member = {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign,
              "LeadId": lead_ids[0], "Status": "Responded"}
    results = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": False, "records": [member, member]})
    assert results[0]["success"] is True
    assert results[1] == {"success": False, "errors": [{
        "statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}]}
    assert org[0].records("CampaignMember")[0]["HasResponded"] is True
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "Id": lead_ids[1], "Status": "Working - Contacted"},
        {"attributes": {"type": "Lead"}, "Id": "00Q000000000000AAA", "Status": "Open"}]})
    assert updated[0] == {"id": lead_ids[1], "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST",
                   json={"records": [{"attributes": {"type": "Lead"}, **lead()}] * 201})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_all_or_none_rolls_back_like_reference_v3d(org, sf):
    records = [{"attributes": {"type": "Lead"}, **lead()},
               {"attributes": {"type": "Lead"}, "Company": "No Name"}]
    results = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": True, "records": records})
    assert results == [
        {"success": False, "errors": [{
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request "
                       "was using AllOrNone header", "fields": []}]},
        {"success": False, "errors": [{
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]},
    ]
    assert org[0].records("Lead") == []


def test_composite_request_like_reference_v3a(org, sf):
    body = {"compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "newLead",
         "body": lead()},
        {"method": "GET", "referenceId": "refLead",
         "url": "/services/data/v62.0/query/?q=SELECT+Id+FROM+Lead+WHERE+Id='@{newLead.id}'"},
        {"method": "GET", "url": "/services/data/v62.0/query?q=select+count()+from+XYZZY",
         "referenceId": "refXYZZY"},
    ]}
    answer = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [a["httpStatusCode"] for a in answer] == [201, 200, 400]
    assert answer[1]["body"]["records"][0]["Id"] == answer[0]["body"]["id"]
    assert answer[2] == {"body": [{
        "message": "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:Column:21"
                   "\nsObject type 'XYZZY' is not supported. If you are attempting to use a "
                   "custom object, be sure to append the '__c' after the entity name. Please "
                   "reference your WSDL or the describe call for the appropriate names.",
        "errorCode": "INVALID_TYPE"}], "httpHeaders": {}, "httpStatusCode": 400,
        "referenceId": "refXYZZY"}
    assert org[0].api_calls["composite"] == 1


def test_composite_request_takes_five_queries(org, sf):
    def query(n: int) -> dict:
        return {"method": "GET", "referenceId": f"q{n}",
                "url": "/services/data/v62.0/query/?q=SELECT+Id+FROM+Lead"}

    answer = sf.restful("composite", method="POST",
                        json={"compositeRequest": [query(n) for n in range(5)]})
    assert [a["httpStatusCode"] for a in answer["compositeResponse"]] == [200] * 5
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite", method="POST",
                   json={"compositeRequest": [query(n) for n in range(6)]})
    assert caught.value.content[0]["errorCode"] == "INVALID_BATCH_REQUEST"



def test_composite_request_counts_collections_among_its_five_and_keeps_its_own_headers(
        org, sf):
    def collection(n: int, headers: dict | None = None) -> dict:
        sub = {"method": "POST", "referenceId": f"w{n}",
               "url": "/services/data/v62.0/composite/sobjects",
               "body": {"allOrNone": False, "records": [
                   {"attributes": {"type": "Lead"}, "LastName": f"C{n}", "Company": "X"}]}}
        return {**sub, "httpHeaders": headers} if headers else sub

    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        collection(n, {"Sforce-Auto-Assign": "FALSE"}) for n in range(5)]})
    assert [a["httpStatusCode"] for a in answer["compositeResponse"]] == [200] * 5
    assert all(a["body"][0]["success"] for a in answer["compositeResponse"])
    with pytest.raises(SalesforceMalformedRequest) as caught:  # a sixth collection
        sf.restful("composite", method="POST",
                   json={"compositeRequest": [collection(n) for n in range(6)]})
    assert caught.value.content[0]["errorCode"] == "INVALID_BATCH_REQUEST"
    with pytest.raises(SalesforceMalformedRequest) as caught:  # inherited, never set
        sf.restful("composite", method="POST", json={"compositeRequest": [
            collection(0, {"Content-Type": "application/json"})]})
    assert caught.value.content[0]["errorCode"] == "INVALID_BATCH_REQUEST"


# -- describe ----------------------------------------------------------------------------

def test_describe_agrees_with_reference_v4(org, sf, call):
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["Company"] == V4_COMPANY
    assert fields["LastName"] == V4_LASTNAME
    for name in ("Lead", "Contact", "Campaign", "CampaignMember", "WeChat_Follower__c"):
        for entry in call("GET", f"sobjects/{name}/describe").json()["fields"]:
            assert entry.keys() == V4_COMPANY.keys(), (name, entry["name"])
    openid = fields["WeChat_OpenId__c"]
    assert (openid["externalId"], openid["unique"], openid["caseSensitive"], openid["length"],
            openid["custom"], openid["idLookup"]) == (True, True, True, 64, True, True)
    status = fields["Status"]
    assert (status["defaultedOnCreate"], status["nillable"], status["restrictedPicklist"]) == \
        (True, False, True)
    assert [v["value"] for v in status["picklistValues"]][0] == "Open - Not Contacted"
    assert fields["IsConverted"]["createable"] is False
    follower = {f["name"]: f for f in sf.WeChat_Follower__c.describe()["fields"]}
    assert follower["Lead__c"]["referenceTo"] == ["Lead"]
    assert follower["Name"]["autoNumber"] is True and follower["Name"]["createable"] is False
    objects = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert objects["Lead"] == "00Q" and objects["WeChat_Follower__c"] == "a0B"


# -- faults, limits, counters -----------------------------------------------------------------

def test_faults_over_http(org, sf):
    control = f"{org[1]}/__sandbox__/faults"
    requests.post(control, json={"endpoint": "GET .*/query", "status": 503,
                                 "count": 1}).raise_for_status()
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.status == 503
    assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    requests.post(control, json={"status": 401}).raise_for_status()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    assert requests.get(control).json()[0]["status"] == 401  # control routes stay reachable
    assert requests.delete(control).status_code == 204
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000


@pytest.mark.parametrize(("status", "code", "message", "raised"), [
    (400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records",
     SalesforceMalformedRequest),
    (403, None, "TotalRequests Limit exceeded.", SalesforceRefusedRequest),
])
def test_fault_codes_from_python(org, sf, status, code, message, raised):
    org[0].faults.add(endpoint="PATCH .*/composite/sobjects", status=status, code=code)
    with pytest.raises(raised) as caught:
        sf.restful("composite/sobjects/Lead/WeChat_OpenId__c", method="PATCH",
                   json={"records": [lead(WeChat_OpenId__c="o")]})
    assert caught.value.content == [{"message": message,
                                     "errorCode": code or "REQUEST_LIMIT_EXCEEDED"}]


@pytest.mark.parametrize("org", [3], indirect=True)
def test_daily_limit_and_counters(org, sf, call):
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 3
    assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 1}
    assert call("GET", "sobjects/Lead/describe").headers["Sforce-Limit-Info"] == \
        "api-usage=3/3"
    refused = call("GET", "limits")
    assert refused.status_code == 403
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.",
                               "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    stats = requests.get(f"{org[1]}/__sandbox__/stats").json()
    assert stats["api_calls"] == {"total": 3, "query": 1, "limits": 1, "describe": 1}
    assert requests.post(f"{org[1]}/__sandbox__/reset-stats").status_code == 204
    assert org[0].api_calls == {"total": 0}
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
