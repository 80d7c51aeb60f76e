"""The Outbound Message endpoint's doors: the secret that ends its URL, then the org.

A message is accepted only at ``/salesforce/outbound/<SALESFORCE_OUTBOUND_SECRET>`` and
from the bridge's org; a refusal queues nothing, and its record never holds the secret.
"""

from __future__ import annotations

import json

import httpx
import pytest

from connector.settings import SettingsError, load_settings
from jobs.queues import changes_queue
from sandbox.salesforce.outbound import envelope
from sandbox.server import serve
from webhooks.app import create_app
from webhooks.outbound_soap import ACK

ORG = "00D5g000004ZkLmEAK"
SECRET = "6f1c0e9a2b7d4c3e8f5a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"
RECORD = {"Id": "00Q5g00000Ab3XyEAJ", "Description": "x"}


@pytest.fixture
def env(monkeypatch):
    values = {"SALESFORCE_CLIENT_ID": "doors", "SALESFORCE_CLIENT_SECRET": "doors",
              "WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "doors",
              "WECHAT_TOKEN": "doorstoken", "SALESFORCE_ORG_ID": ORG}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SALESFORCE_OUTBOUND_SECRET", raising=False)
    return values


@pytest.fixture
def web_for(env, redis_conn):
    servers = []

    def start(**overrides) -> str:
        server = serve(create_app(load_settings(**overrides), redis_conn,
                                  reply=lambda e, m: None))
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def message(org: str = ORG) -> bytes:
    return envelope(org, "04k5g0000008OgXAAU", "https://x.example", "62.0",
                    [("04l5g00000BcNqJAAV", "Lead", RECORD, ("Description",))]).encode()


def last_rejection(redis_conn) -> dict:
    return json.loads(redis_conn.lindex("bridge:rejected", 0))


def test_a_message_at_the_secret_url_from_our_org_is_acknowledged(web_for, redis_conn):
    url = web_for(SALESFORCE_OUTBOUND_SECRET=SECRET)
    answer = httpx.post(f"{url}/salesforce/outbound/{SECRET}", content=message())
    assert (answer.status_code, answer.content) == (200, ACK)
    assert changes_queue(redis_conn).count == 1


@pytest.mark.parametrize(("path", "reason"), [
    pytest.param("/salesforce/outbound", "without the secret", id="no-secret"),
    pytest.param(f"/salesforce/outbound/{SECRET[:-1]}0", "wrong secret", id="wrong-secret"),
    pytest.param(f"/salesforce/outbound/{SECRET[:8]}", "wrong secret", id="short-secret"),
])
def test_a_message_without_the_secret_is_refused_whatever_its_org(web_for, redis_conn, path,
                                                                  reason):
    url = web_for(SALESFORCE_OUTBOUND_SECRET=SECRET)
    answer = httpx.post(url + path, content=message())
    assert (answer.status_code, answer.text) == (403, "forbidden")
    assert changes_queue(redis_conn).count == 0
    record = last_rejection(redis_conn)
    assert reason in record["reason"]
    assert SECRET[:8] not in json.dumps(record)  # neither ours nor the caller's guess
    assert record["sample"] == ""  # refused before its body was read


def test_without_a_configured_secret_every_message_is_refused(web_for, redis_conn):
    url = web_for()
    for path in ("/salesforce/outbound", f"/salesforce/outbound/{SECRET}"):
        assert httpx.post(url + path, content=message()).status_code == 403
    assert changes_queue(redis_conn).count == 0
    assert "SALESFORCE_OUTBOUND_SECRET is not set" in last_rejection(redis_conn)["reason"]


def test_the_secret_does_not_open_the_door_for_another_org(web_for, redis_conn):
    url = web_for(SALESFORCE_OUTBOUND_SECRET=SECRET)
    answer = httpx.post(f"{url}/salesforce/outbound/{SECRET}",
                        content=message("00D5g000001AbCdEAK"))
    assert answer.status_code == 403
    assert changes_queue(redis_conn).count == 0
    assert last_rejection(redis_conn)["path"] == "/salesforce/outbound/{secret}"


@pytest.mark.parametrize("secret", ["too-short", "a" * 40 + "/x", "a" * 40 + "?key=1"])
def test_a_weak_or_unusable_secret_is_a_settings_error(env, secret):
    with pytest.raises(SettingsError, match="SALESFORCE_OUTBOUND_SECRET"):
        load_settings(SALESFORCE_OUTBOUND_SECRET=secret)


def test_a_short_admin_token_is_a_settings_error(env):
    with pytest.raises(SettingsError, match="ADMIN_TOKEN"):
        load_settings(ADMIN_TOKEN="hunter2")
