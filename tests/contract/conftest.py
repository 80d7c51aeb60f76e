"""vcrpy set-up for cassette tests: secrets never reach a cassette.

WeChat puts ``access_token`` in the query string and ``secret`` in token requests;
Salesforce sends ``Authorization: Bearer`` and JWT assertions / client secrets in form
bodies, and returns ``access_token`` in JSON. All are replaced by ``SCRUBBED`` on record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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


# -- the live contract suite (tests marked ``internet``) ---------------------------------
#
# Each live test runs in one of three ways:
#   live    LIVE_ENV_FILE names a file of the bridge's config vars for a real org and
#           account (the same variables as a deployment): the test talks to them;
#   record  the same, with LIVE_RECORD=1: its traffic is written, scrubbed, to
#           cassettes/live/<system>/<test>.yaml (and its inputs to params.json);
#   replay  no LIVE_ENV_FILE but a recording exists: the test runs against the recording,
#           so what the real services answered is checked on every CI run.
# Otherwise it is skipped. LIVE_CASSETTES moves the recordings (the suite's own test).

# AppIDs are not secret, but scrubbed in recordings so a replay needs no real one.
LIVE_SCRUB_KEYS = SECRET_KEYS | {"appid"}


def _live_scrub_body(body):
    if not body:
        return body
    text = body.decode() if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return _scrub_body(body)
    if isinstance(data, dict):
        data = {k: SCRUB if k in LIVE_SCRUB_KEYS and isinstance(v, str) else v
                for k, v in data.items()}
    text = _scrub_json(json.dumps(data))
    return text.encode() if isinstance(body, bytes) else text


def live_scrub_request(request):
    request = scrub_request(request)
    request.body = _live_scrub_body(request.body)
    return request


def live_cassettes() -> Path:
    import os

    return Path(os.environ.get("LIVE_CASSETTES") or CASSETTES / "live")


@dataclass
class Live:
    """What a live test runs with: ``settings`` (real, or placeholders on replay), its
    ``params`` (e.g. a follower's OpenID, recorded beside the cassette) and ``mode``."""

    settings: object
    params: dict
    mode: str


def _replay_settings(private_key_pem: str):
    from connector.settings import load_settings

    return load_settings(
        SALESFORCE_LOGIN_URL="https://login.salesforce.com",
        SALESFORCE_CLIENT_ID="3MVG9replay", SALESFORCE_USERNAME="replay@example.com",
        SALESFORCE_PRIVATE_KEY=private_key_pem, SALESFORCE_CLIENT_SECRET=None,
        WECHAT_APP_ID="wx0000000000000000", WECHAT_APP_SECRET="replay",
        WECHAT_TOKEN="replay", WECHAT_API_BASE_URL="https://api.weixin.qq.com/",
        WECHAT_ACCOUNTS="[]")


@pytest.fixture
def live(request, monkeypatch):
    """A :class:`Live` for the test, inside its recording or replay (see above)."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from connector.settings import load_settings

    system = request.module.SYSTEM
    folder = live_cassettes() / system
    cassette = folder / f"{request.node.name}.yaml"
    params_file = folder / "params.json"
    env_file = os.environ.get("LIVE_ENV_FILE")
    recorder = vcr.VCR(match_on=["method", "scheme", "path", "query", "body"],
                       before_record_request=live_scrub_request,
                       before_record_response=scrub_response,
                       decode_compressed_response=True,
                       filter_headers=["authorization", "cookie"])
    if env_file:
        values = _env_values(Path(env_file))
        for key, value in values.items():  # the CA bundle of a test org's proxy, too
            monkeypatch.setenv(key, value)
        settings = load_settings()
        params = {k[len("LIVE_"):].lower(): v for k, v in values.items()
                  if k.startswith("LIVE_")}
        if os.environ.get("LIVE_RECORD") != "1":
            yield Live(settings, params, "live")
            return
        folder.mkdir(parents=True, exist_ok=True)
        params_file.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
        with recorder.use_cassette(str(cassette), record_mode="all"):
            yield Live(settings, params, "record")
        return
    if not cassette.exists():
        pytest.skip("a live test: set LIVE_ENV_FILE (see README, 'The live contract "
                    "suite'), or record it once")
    for key in [k for k in os.environ if k.startswith(("SALESFORCE_", "WECHAT_"))]:
        monkeypatch.delenv(key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    params = json.loads(params_file.read_text()) if params_file.exists() else {}
    with recorder.use_cassette(str(cassette), record_mode="none",
                               allow_playback_repeats=False) as played:
        yield Live(_replay_settings(pem), params, "replay")
    assert played.all_played, "the recording holds calls the test no longer makes"


def _env_values(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (``#`` comments, optional quotes), as ``connector sandbox
    --env-file`` writes them and Heroku's ``config`` prints them."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values
