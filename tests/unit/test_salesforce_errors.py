"""The pure parts of the Salesforce gateway: the error classifier (table-driven, with the
real reference bodies), save-result parsing, limit headers and the login's JWT claims.

Reference bodies are from /work/shared/reference/salesforce_vectors.md (V3a-V3d).
"""

from __future__ import annotations

import json
import pickle

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from connector.salesforce.auth import build_assertion, jwt_audience
from connector.salesforce.errors import (
    DuplicateMemberError,
    Target,
    classify_login_failure,
    classify_record_errors,
    classify_response,
    classify_transport,
    error_entries,
    is_duplicate_member,
    is_invalid_session,
)
from connector.salesforce.http import parse_limit_info
from connector.salesforce.results import SaveResult, parse_save_results
from connector.settings import load_settings

# V3b: REAL plain REST error array, HTTP 400 (Snowfakery cassette, decoded)
V3B = json.loads(
    '[ {\n  "message" : "\\nSELECT Xyzzy FROM Xyzzy\\n                  ^\\nERROR at Row:1:'
    "Column:19\\nsObject type 'Xyzzy' is not supported. If you are attempting to use a custom "
    "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
    'the describe call for the appropriate names.",\n  "errorCode" : "INVALID_TYPE"\n} ]'
)
# V3a: REAL composite sub-response body (the failing one), same shape as V3b
V3A_SUB = [{"message": "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:"
            "Column:21\nsObject type 'XYZZY' is not supported. If you are attempting to use "
            "a custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_TYPE"}]
# V3c: REAL 404 on create of a non-existent object
V3C = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
# V3d: DOC collection result with per-record errors (statusCode, not errorCode)
V3D = [
    {"success": False, "errors": [{"statusCode": "DUPLICATES_DETECTED",
                                   "message": "Use one of these records?", "fields": []}]},
    {"success": False, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                   "message": "Record rolled back because not all records were "
                                   "valid and the request was using AllOrNone header",
                                   "fields": []}]},
]


def rest(code, message="m", fields=None):
    item = {"errorCode": code, "message": message}
    if fields is not None:
        item["fields"] = fields
    return [item]


LEAD = Target("upsert", "Lead")
RECORD = Target("get", "Lead", "00Q000000000001AAA")


@pytest.mark.parametrize(
    ("status", "body", "target", "expected", "code"),
    [
        # reference bodies
        (400, V3B, Target("query"), ConfigurationError, "INVALID_TYPE"),
        (400, V3A_SUB, Target("query"), ConfigurationError, "INVALID_TYPE"),
        (404, V3C, Target("create", "Unreal"), ConfigurationError, "NOT_FOUND"),
        (404, V3C, RECORD, SkippableError, "NOT_FOUND"),
        # retriable
        (400, rest("UNABLE_TO_LOCK_ROW"), LEAD, RetriableError, "UNABLE_TO_LOCK_ROW"),
        (503, rest("SERVER_UNAVAILABLE"), LEAD, RetriableError, "SERVER_UNAVAILABLE"),
        (400, rest("QUERY_TIMEOUT"), Target("query"), RetriableError, "QUERY_TIMEOUT"),
        (500, "<html>Internal Server Error</html>", LEAD, RetriableError, None),
        (502, None, LEAD, RetriableError, None),
        (500, rest("UNKNOWN_EXCEPTION"), LEAD, RetriableError, "UNKNOWN_EXCEPTION"),
        (401, rest("INVALID_SESSION_ID", "Session expired or invalid"), LEAD, RetriableError,
         "INVALID_SESSION_ID"),
        # rate limited
        (403, rest("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), LEAD,
         RateLimitedError, "REQUEST_LIMIT_EXCEEDED"),
        (429, None, LEAD, RateLimitedError, None),
        # configuration (mapping or org set-up)
        (400, rest("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                   ["LastName"]), LEAD, ConfigurationError, "REQUIRED_FIELD_MISSING"),
        (400, rest("INVALID_FIELD", "No such column 'Foo__c' on entity 'Lead'."), LEAD,
         ConfigurationError, "INVALID_FIELD"),
        (400, rest("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Name.",
                   ["Name"]), LEAD, ConfigurationError, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (403, rest("INSUFFICIENT_ACCESS_OR_READONLY"), LEAD, ConfigurationError,
         "INSUFFICIENT_ACCESS_OR_READONLY"),
        (400, rest("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"), LEAD, ConfigurationError,
         "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"),
        (403, rest("API_DISABLED_FOR_ORG"), LEAD, ConfigurationError, "API_DISABLED_FOR_ORG"),
        # fatal (the data)
        (400, rest("MALFORMED_QUERY"), Target("query"), FatalError, "MALFORMED_QUERY"),
        (400, rest("STRING_TOO_LONG", "Last Name: data value too large", ["LastName"]), LEAD,
         FatalError, "STRING_TOO_LONG"),
        (400, rest("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value", ["Status"]), LEAD,
         FatalError, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (400, rest("FIELD_CUSTOM_VALIDATION_EXCEPTION"), LEAD, FatalError,
         "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        (400, rest("INVALID_CROSS_REFERENCE_KEY", "invalid id", ["CampaignId"]), LEAD,
         FatalError, "INVALID_CROSS_REFERENCE_KEY"),
        (400, rest("FIELD_INTEGRITY_EXCEPTION"), LEAD, FatalError, "FIELD_INTEGRITY_EXCEPTION"),
        (400, rest("DUPLICATE_VALUE", "duplicate value found: OpenId__c"), LEAD, FatalError,
         "DUPLICATE_VALUE"),
        (300, ["/services/data/v62.0/sobjects/Lead/00Q1",
               "/services/data/v62.0/sobjects/Lead/00Q2"], LEAD, FatalError, None),
        # unknown codes fall back to the status
        (400, rest("SOMETHING_NEW"), LEAD, FatalError, "SOMETHING_NEW"),
        (418, None, LEAD, FatalError, None),
        # skippable
        (400, rest("ENTITY_IS_DELETED", "entity is deleted"), RECORD, SkippableError,
         "ENTITY_IS_DELETED"),
    ],
)
def test_classify_response(status, body, target, expected, code):
    error = classify_response(status, body, target)
    assert type(error) is expected
    assert error.code == code
    assert error.status == status
    assert error.system == "salesforce"


@pytest.mark.parametrize(
    ("body", "target", "must_contain"),
    [
        (rest("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"]),
         LEAD, ["Lead", "LastName", "mapping file", "objects.Lead"]),
        (rest("STRING_TOO_LONG", "data value too large", ["LastName"]), LEAD,
         ["Shorten LastName on Lead"]),
        (V3B, Target("query"), ["sObject type 'Xyzzy' is not supported", "__c"]),
        (V3C, Target("create", "Unreal"), ["creating a Unreal record", "object name (Unreal)"]),
        (rest("INSUFFICIENT_ACCESS_OR_READONLY", "no access", ["Phone"]), LEAD,
         ["integration user", "Lead", "Phone"]),
        (["/services/data/v62.0/sobjects/Lead/00Q1"], LEAD,
         ["several records", "/sobjects/Lead/00Q1"]),
    ],
)
def test_messages_name_object_field_and_fix(body, target, must_contain):
    status = 300 if isinstance(body[0], str) else 400
    message = classify_response(status, body, target).message
    for text in must_contain:
        assert text in message


def test_fields_request_id_and_retry_after_come_from_the_answer():
    headers = {"Sforce-Request-Id": "req-42", "Retry-After": "7"}
    error = classify_response(403, rest("REQUEST_LIMIT_EXCEEDED"), LEAD, headers)
    assert error.request_id == "req-42"
    assert error.retry_after == 7.0
    error = classify_response(400, rest("REQUIRED_FIELD_MISSING", "x", ["LastName", "Company"]),
                              LEAD, {"x-request-id": "abc"})
    assert error.fields == ["LastName", "Company"]
    assert error.request_id == "abc"


def test_several_errors_are_joined_with_the_first_code_and_all_fields():
    body = rest("REQUIRED_FIELD_MISSING", "first", ["LastName"]) + rest(
        "STRING_TOO_LONG", "second", ["Company"])
    error = classify_response(400, body, LEAD)
    assert error.code == "REQUIRED_FIELD_MISSING"
    assert error.fields == ["LastName", "Company"]
    assert "first / second" in error.message


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        (V3B, ["INVALID_TYPE"]),
        ([{"statusCode": "STRING_TOO_LONG", "message": "m", "fields": ["A"]}], ["STRING_TOO_LONG"]),
        ({"error": "invalid_grant", "error_description": "audience is invalid"}, ["invalid_grant"]),
        ({"errors": [{"statusCode": "X", "message": ""}]}, ["X"]),
        ("Service Unavailable", [None]),
        ("", []),
        (None, []),
    ],
)
def test_error_entries_accept_every_shape(body, codes):
    assert [e.code for e in error_entries(body)] == codes


def test_v3d_per_record_errors_use_status_code_and_are_returned_not_raised():
    target = Target("create_many", "Lead")
    results = parse_save_results(V3D, target, 2, created_default=True)
    assert [r.success for r in results] == [False, False]
    duplicate, rolled_back = results[0].errors[0], results[1].errors[0]
    assert type(duplicate) is FatalError and duplicate.code == "DUPLICATES_DETECTED"
    # the second record was fine: only the all-or-none rollback failed it
    assert type(rolled_back) is RetriableError
    assert rolled_back.code == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert duplicate.status is None


def test_collection_results_keep_created_flags_and_reject_a_short_answer():
    body = [{"id": "0037e00001WZ310AAD", "success": True, "errors": [], "created": False},
            {"id": "0037e00001WZ316AAD", "success": True, "errors": [], "created": True}]
    results = parse_save_results(body, Target("upsert_many", "Contact"), 2, created_default=False)
    assert results == [SaveResult("0037e00001WZ310AAD", True, False),
                       SaveResult("0037e00001WZ316AAD", True, True)]
    with pytest.raises(FatalError):
        parse_save_results(body, Target("upsert_many", "Contact"), 3, created_default=False)


@pytest.mark.parametrize(
    ("message", "sobject", "duplicate_member"),
    [
        ("Already a campaign member.", "CampaignMember", True),
        ("duplicate value found: OpenId__c duplicates value on record with id: a001",
         "WeChat_Follower__c", False),
    ],
)
def test_duplicate_member_is_flagged_without_callers_parsing_text(message, sobject,
                                                                  duplicate_member):
    (error,) = classify_record_errors([{"statusCode": "DUPLICATE_VALUE", "message": message,
                                        "fields": []}], Target("create_many", sobject))
    assert error.code == "DUPLICATE_VALUE"
    assert isinstance(error, FatalError)
    assert is_duplicate_member(error) is duplicate_member
    assert isinstance(error, DuplicateMemberError) is duplicate_member


@pytest.mark.parametrize(
    ("status", "body", "expected", "must_contain"),
    [
        (400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
         ConfigurationError, ["pre-authorised", "Connected App", "certificate",
                              "SALESFORCE_LOGIN_URL"]),
        (400, {"error": "invalid_grant", "error_description": "audience is invalid"},
         ConfigurationError, ["audience (aud) is not the one this org takes"]),
        (400, {"error": "invalid_client_id", "error_description": "client identifier invalid"},
         ConfigurationError, ["SALESFORCE_CLIENT_ID"]),
        (400, {"error": "invalid_grant", "error_description": "invalid assertion"},
         ConfigurationError, ["certificate may not match"]),
        (503, "<html>down</html>", RetriableError, ["retry later"]),
        (429, None, RateLimitedError, ["HTTP 429"]),
    ],
)
def test_login_failures_tell_the_admin_what_to_check(status, body, expected, must_contain):
    error = classify_login_failure(status, body, "https://login.salesforce.com")
    assert type(error) is expected
    for text in must_contain:
        assert text in error.message


def test_transport_failures_are_retriable():
    error = classify_transport("timeout", Target("upsert_many", "Lead"), "ReadTimeout")
    assert type(error) is RetriableError and error.code == "TIMEOUT"
    assert "writing Lead records timed out" in error.message


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, rest("INVALID_SESSION_ID", "Session expired or invalid"), True),
        (401, rest("INVALID_AUTH_HEADER"), False),
        (400, rest("INVALID_SESSION_ID"), False),
    ],
)
def test_only_an_invalid_session_triggers_a_new_login(status, body, expected):
    assert is_invalid_session(status, body) is expected


@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", (25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
    ],
)
def test_limit_info(header, usage):
    assert parse_limit_info(header) == usage


def test_classified_errors_survive_pickling_for_rq():
    error = classify_response(400, rest("DUPLICATE_VALUE", "Already a campaign member."),
                              Target("create", "CampaignMember"))
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is DuplicateMemberError
    assert isinstance(clone, BridgeError) and clone.code == "DUPLICATE_VALUE"


# -- login claims (pure parts of connector/salesforce/auth.py) ---------------------------


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.force.com/customers", "https://acme.force.com/customers"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
    ],
)
def test_jwt_audience(login_url, audience):
    assert jwt_audience(login_url) == audience


def test_assertion_claims_and_signature():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    settings = load_settings(
        SALESFORCE_LOGIN_URL="https://acme.my.salesforce.com", SALESFORCE_CLIENT_ID="3MVGkey",
        SALESFORCE_USERNAME="int@example.com", SALESFORCE_PRIVATE_KEY=pem,
        WECHAT_APP_ID="wx0123456789abcdef", WECHAT_APP_SECRET="s", WECHAT_TOKEN="token123")
    token = build_assertion(settings, now=1_700_000_000)
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"],
                        audience="https://login.salesforce.com", options={"verify_exp": False})
    assert claims == {"iss": "3MVGkey", "sub": "int@example.com",
                      "aud": "https://login.salesforce.com", "exp": 1_700_000_180}


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        ({"message": "Required fields are missing: [Phone]",
          "errorCode": "REQUIRED_FIELD_MISSING"}, ["Phone"]),  # no fields list: read them
        ({"message": "Required fields are missing: [LastName, Company]",
          "errorCode": "REQUIRED_FIELD_MISSING"}, ["LastName", "Company"]),
        ({"message": "Required fields are missing: [X]", "errorCode": "REQUIRED_FIELD_MISSING",
          "fields": ["LastName"]}, ["LastName"]),  # Salesforce's own list wins
        ({"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}, []),
    ],
)
def test_missing_fields_are_named_even_without_a_fields_list(entry, fields):
    error = classify_response(400, [entry], Target("upsert_many", "Lead"), {})
    assert list(error.fields) == fields


def test_the_message_and_the_fix_read_as_two_sentences():
    entry = {"message": "Required fields are missing: [Phone]",
             "errorCode": "REQUIRED_FIELD_MISSING"}
    error = classify_response(400, [entry], Target("upsert_many", "Lead"), {})
    assert ("Required fields are missing: [Phone]. Set Phone for Lead in the mapping file "
            "(objects.Lead), or give it a default.") in str(error)
    ended = {"message": "Record is locked.", "errorCode": "UNABLE_TO_LOCK_ROW"}
    error = classify_response(400, [ended], Target("upsert_many", "Lead"), {})
    assert "Record is locked. Another transaction" in str(error)  # no doubled period
