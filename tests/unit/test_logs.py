"""The log formats: JSON lines off a terminal, plain lines on one, context and redaction."""

from __future__ import annotations

import io
import json
import logging

import pytest

from connector import logs
from connector.salesforce.http import call_verb


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def capture():
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def _capture(stream):
        logs.setup("INFO", stream, force=True)
        return stream

    yield _capture
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_off_a_terminal_each_line_is_one_json_object_with_the_context(capture):
    out = capture(io.StringIO())
    log = logging.getLogger("connector.test")
    with logs.context(job_id="wx-evt-1", event_key="wx-evt-1"):
        logs.set_context(sf_request_id="abc")
        log.info("wrote %d records", 3)
    log.warning("after")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "wrote 3 records" and first["level"] == "INFO"
    assert first["logger"] == "connector.test" and first["time"].endswith("+00:00")
    assert (first["job_id"], first["event_key"], first["sf_request_id"]) == (
        "wx-evt-1", "wx-evt-1", "abc")
    assert "job_id" not in second  # the block ended


def test_a_traceback_stays_inside_its_json_line(capture):
    out = capture(io.StringIO())
    try:
        raise ValueError("secret=hunter2 in a message")
    except ValueError:
        logging.getLogger("x").exception("failed")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert "ValueError" in record["exc"] and "hunter2" not in line


def test_on_a_terminal_lines_are_plain(capture):
    out = capture(Tty())
    with logs.context(job_id="j1"):
        logging.getLogger("connector.test").info("hello")
    text = out.getvalue()
    assert " INFO connector.test: hello [job_id=j1]" in text
    with pytest.raises(ValueError):
        json.loads(text)


@pytest.mark.parametrize("line", [
    "GET https://api.weixin.qq.com/cgi-bin/user/info?access_token=TOPSECRET&openid=o1",
    "headers {'Authorization': 'Bearer TOPSECRET'}",
    'body {"grant_type": "client_credential", "secret": "TOPSECRET"}',
    "session 00D5g000004AbCd!TOPSECRET.more",
    "form client_secret=TOPSECRET&assertion=TOPSECRET",
])
def test_secrets_never_reach_a_line(capture, line):
    for stream in (io.StringIO(), Tty()):
        out = capture(stream)
        logging.getLogger("urllib3").warning("%s", line)
        assert "TOPSECRET" not in out.getvalue()
        assert "[REDACTED]" in out.getvalue()


@pytest.mark.parametrize(("method", "path", "verb"), [
    ("GET", "/services/data/v62.0/query/", "GET query"),
    ("POST", "/services/data/v62.0/composite/sobjects/WeChat_Follower__c/OpenId__c",
     "POST composite/sobjects"),
    ("PATCH", "/services/data/v62.0/sobjects/Lead/00Q5g00000AbCdEFGH", "PATCH sobjects/Lead"),
    ("GET", "/services/data/v62.0/limits/", "GET limits"),
    ("POST", "/services/oauth2/token", "POST oauth2/token"),
])
def test_salesforce_verbs_hold_no_record_id(method, path, verb):
    assert call_verb(method, path) == verb


def test_prose_about_tokens_is_left_alone(capture):
    out = capture(io.StringIO())
    logging.getLogger("x").warning("set METRICS_TOKEN to require a bearer token")
    assert "require a bearer token" in json.loads(out.getvalue())["message"]
