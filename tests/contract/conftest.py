"""vcrpy set-up for cassette tests: secrets never reach a cassette.

WeChat puts ``access_token`` in the query string and ``secret`` in token requests;
Salesforce sends ``Authorization: Bearer`` and JWT assertions / client secrets in form
bodies, and returns ``access_token`` in JSON. All are replaced by ``SCRUBBED`` on record.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import vcr

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
SECRET_KEYS = {"access_token", "secret", "appsecret", "client_secret", "assertion", "password",
               "refresh_token", "signature"}
SCRUB = "SCRUBBED"


def _scrub_query(uri: str) -> str:
    parts = urlsplit(uri)
    query = [(k, SCRUB if k in SECRET_KEYS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _scrub_json(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text

    def walk(node):
        if isinstance(node, dict):
            return {k: SCRUB if k in SECRET_KEYS and isinstance(v, str) else walk(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(data))


def _scrub_body(body):
    if not body:
        return body
    text = body.decode() if isinstance(body, bytes) else body
    if text.lstrip().startswith(("{", "[")):
        text = _scrub_json(text)
    elif "=" in text and "&" in text or text.startswith(("grant_type=", "assertion=")):
        text = urlencode([(k, SCRUB if k in SECRET_KEYS else v) for k, v in parse_qsl(text, True)])
    return text.encode() if isinstance(body, bytes) else text


def scrub_request(request):
    request.uri = _scrub_query(request.uri)
    request.body = _scrub_body(request.body)
    for name in list(request.headers):
        if name.lower() in {"authorization", "cookie"}:
            request.headers[name] = SCRUB
    return request


def scrub_response(response):
    body = response.get("body", {})
    if body.get("string"):
        body["string"] = _scrub_body(body["string"])
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() == "set-cookie":
            headers[name] = [SCRUB]
    return response


SECRET_PATTERN = re.compile(
    r"access_token=(?!SCRUBBED)[A-Za-z0-9_-]{8,}|Bearer (?!SCRUBBED)\S{8,}|BEGIN (RSA )?PRIVATE KEY"
)


@pytest.fixture
def cassette_vcr() -> vcr.VCR:
    """A VCR that replays from cassettes/ and scrubs secrets on record.

    Record new cassettes with ``VCR_RECORD=once`` against the sandbox; CI only replays.
    """
    import os

    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=os.environ.get("VCR_RECORD", "none"),
        match_on=["method", "scheme", "path", "query", "body"],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
        filter_headers=["authorization", "cookie"],
    )
