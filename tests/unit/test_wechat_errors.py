"""WeChat errcode → error branch: the pure table in connector/wechat/errors.py."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from connector.wechat.errors import (
    ACCOUNT,
    RECIPIENT,
    REQUEST,
    RULES,
    SCOPES,
    classify,
    classify_http,
    is_token_error,
    is_unknown_errcode,
    request_id,
    scope_of,
    seconds_until_quota_reset,
    strip_request_id,
)

BEIJING = timezone(timedelta(hours=8))
# 2024-01-15 23:00 in Beijing: one hour before the daily quotas reset.
NOW = datetime(2024, 1, 15, 23, 0, tzinfo=BEIJING).timestamp()
RID = "65a4c0b1-0e3f7c8a-1b2c3d4e"


@pytest.mark.parametrize(
    ("errcode", "errmsg", "kind", "retry_after"),
    [
        (-1, "system error", RetriableError, 2),
        (40001, "invalid credential, access_token is invalid or not latest", RetriableError,
         None),
        (40014, "invalid access_token", RetriableError, None),
        (42001, "access_token expired", RetriableError, None),
        (45009, "reach max api daily quota limit", RateLimitedError, 3600),
        (45011, "api minute-quota reach limit  mustslower  retry next minute",
         RateLimitedError, 60),
        (40013, "invalid appid", ConfigurationError, None),
        (40125, "invalid appsecret", ConfigurationError, None),
        (40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist",
         ConfigurationError, None),
        (48001, "api unauthorized", ConfigurationError, None),
        (40003, "invalid openid", SkippableError, None),
        (43004, "require subscribe", SkippableError, None),
        (45015, "response out of time limit or subscription is canceled", SkippableError,
         None),
        (45047, "out of response count limit", SkippableError, None),
        (43101, "user refuse to accept the msg", SkippableError, None),
        (99999, "something new", FatalError, None),
    ],
)
def test_classify_table(errcode, errmsg, kind, retry_after):
    err = classify(errcode, f"{errmsg} rid: {RID}", now=NOW)

    assert type(err) is kind
    assert (err.system, err.code, err.status, err.request_id) == (
        "wechat", str(errcode), 200, RID)
    assert errmsg in err.message and "rid:" not in err.message
    assert getattr(err, "retry_after", None) == retry_after


@pytest.mark.parametrize(
    ("errcode", "names"),
    [
        (40013, "WECHAT_APP_ID"),
        (40125, "WECHAT_APP_SECRET"),
        (40164, "IP whitelist"),
    ],
)
def test_configuration_errors_tell_the_operator_what_to_set(errcode, names):
    err = classify(errcode, "x", now=NOW)
    assert names in err.message


def test_ip_whitelist_error_names_the_ip():
    err = classify(40164, f"invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist "
                          f"rid: {RID}", now=NOW)
    assert "IP address 203.0.113.7 is not on" in err.message


def test_unknown_code_without_errmsg():
    err = classify(12345, None, now=NOW)
    assert type(err) is FatalError
    assert err.request_id is None and err.code == "12345"


def test_an_unknown_code_says_its_errcode_and_errmsg():
    err = classify(43999, f"user has some new setting rid: {RID}", now=NOW)
    assert err.message == "unknown errcode 43999: user has some new setting"


def test_every_errcode_of_the_table_says_whom_it_concerns():
    assert set(RULES) <= set(SCOPES)
    assert set(SCOPES.values()) == {RECIPIENT, REQUEST, ACCOUNT}


@pytest.mark.parametrize(
    ("errcode", "scope"),
    [
        (43101, RECIPIENT), (43004, RECIPIENT), (45015, RECIPIENT), (40003, RECIPIENT),
        (43999, RECIPIENT),  # unknown: that recipient's, with its errcode in the reason
        (40037, REQUEST), (47001, REQUEST),
        (40164, ACCOUNT), (48001, ACCOUNT), (40001, ACCOUNT), (45009, ACCOUNT),
        (-1, ACCOUNT), (40125, ACCOUNT),
    ],
)
def test_scope_of_a_wechat_errcode(errcode, scope):
    assert scope_of(classify(errcode, "x", now=NOW)) == scope


def test_failures_without_an_errcode_stop_the_send():
    assert scope_of(classify_http(502)) == ACCOUNT
    assert scope_of(FatalError("no msgid", system="wechat", code="MALFORMED")) == ACCOUNT
    assert scope_of(FatalError("too long", system="bridge", code="CLIENT_MSG_ID")) == REQUEST


@pytest.mark.parametrize(
    ("errmsg", "rid", "stripped"),
    [
        (f"invalid openid rid: {RID}", RID, "invalid openid"),
        (f"invalid credential, hint: [abc] rid: {RID}", RID, "invalid credential, hint: [abc]"),
        (f"api unauthorized, rid: {RID}", RID, "api unauthorized"),
        # Older answers end with "hint: [...]" instead.
        ("require subscribe hint: [Ab12CD0123ge20]", "Ab12CD0123ge20", "require subscribe"),
        ("invalid openid", None, "invalid openid"),
        ("", None, ""),
        (None, None, ""),
    ],
)
def test_request_id_parsing(errmsg, rid, stripped):
    assert request_id(errmsg) == rid
    assert strip_request_id(errmsg) == stripped


@pytest.mark.parametrize(
    ("beijing_time", "expected"),
    [
        (datetime(2024, 1, 15, 23, 0, tzinfo=BEIJING), 3600),
        (datetime(2024, 1, 15, 0, 0, tzinfo=BEIJING), 86400),
        (datetime(2024, 1, 15, 12, 30, tzinfo=BEIJING), 41400),
        (datetime(2024, 1, 15, 23, 59, 30, tzinfo=BEIJING), 60),  # never below a minute
        (datetime(2024, 1, 15, 15, 0, tzinfo=UTC), 3600),  # 23:00 in Beijing
    ],
)
def test_quota_resets_at_beijing_midnight(beijing_time, expected):
    assert seconds_until_quota_reset(beijing_time.timestamp()) == expected


@pytest.mark.parametrize(
    ("status", "kind", "retry_after"),
    [
        (500, RetriableError, None),
        (502, RetriableError, None),
        (503, RetriableError, 7.0),
        (429, RateLimitedError, 7.0),
        (404, FatalError, None),
        (400, FatalError, None),
    ],
)
def test_classify_http(status, kind, retry_after):
    err = classify_http(status, retry_after=7.0 if retry_after else None)
    assert type(err) is kind
    assert (err.system, err.status, err.code) == ("wechat", status, f"HTTP_{status}")
    assert getattr(err, "retry_after", None) == retry_after


def test_http_429_without_hint_waits_a_minute():
    assert classify_http(429).retry_after == 60


@pytest.mark.parametrize(("errcode", "expected"),
                         [(40001, True), (40014, True), (42001, True), (40003, False),
                          (-1, False), (None, False)])
def test_token_errors(errcode, expected):
    assert is_token_error(errcode) is expected


def test_classified_errors_survive_pickling():  # rq stores exceptions pickled
    err = classify(45009, f"reach max api daily quota limit rid: {RID}", now=NOW)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is RateLimitedError
    assert (again.code, again.request_id, again.retry_after) == ("45009", RID, 3600)


def test_an_unknown_errcode_is_one_in_neither_table():
    assert is_unknown_errcode(classify(43999, "x", now=NOW))
    assert not is_unknown_errcode(classify(43101, "x", now=NOW))
    assert not is_unknown_errcode(classify_http(502))
