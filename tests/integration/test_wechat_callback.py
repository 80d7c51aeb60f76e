"""The WeChat callback over real HTTP, with a real Redis.

Pushes are built from the reference vectors (shared/reference/wechat_vectors.md) and
signed here with the test's own SHA-1, so the bridge's signing code is not trusted to
check itself; the last tests drive the sandbox's independent CallbackSender.
"""
# ruff: noqa: E501  (reference bodies are kept on one line, byte-exact)

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
from rq import Queue
from rq.job import Job

from connector.events import InboundEvent
from connector.redis_connection import connect
from connector.settings import load_settings
from jobs.queues import INBOUND
from sandbox.server import free_port, serve
from sandbox.wechat import crypto as wechat_crypto
from sandbox.wechat import pushes
from sandbox.wechat.sender import CallbackSender
from webhooks.app import create_app
from webhooks.rejections import CAP, KEY, SAMPLE_BYTES, RejectionLog

# V1 (Tencent's sample): the account every safe/compatible test plays.
TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
ORIGINAL_ID = "gh_10f6c3c3ac5a"
V1_ENCRYPT = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
V1_COMPATIBLE = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[" + V1_ENCRYPT + "]]></Encrypt></xml>"
V1_SAFE = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[" + V1_ENCRYPT + "]]></Encrypt></xml>"
V1_JOB = "wx-msg-gh_10f6c3c3ac5a-6054768590064713728"
V1_OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"

# V6.1, V6.9, V6.21, V6.22: plain-mode bodies.
TEXT = '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n         <CreateTime>1348831860</CreateTime>\n        <MsgType><![CDATA[text]]></MsgType>\n        <Content><![CDATA[this is a test]]></Content>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'
TEXT_JOB = "wx-msg-toUser-1234567890123456"
SUBSCRIBE_SCAN = '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe]]></Event>\n        <EventKey><![CDATA[qrscene_123123]]></EventKey>\n        <Ticket><![CDATA[TICKET]]></Ticket>\n        </xml>'
POPUP_EVENT = '<xml>\n        <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n        <CreateTime>1610969440</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe_msg_popup_event]]></Event>\n        <SubscribeMsgPopupEvent>\n            <List>\n                <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n                <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n                <PopupScene>2</PopupScene>\n            </List>\n            <List>\n                <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\n                <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n                <PopupScene>2</PopupScene>\n            </List>\n        </SubscribeMsgPopupEvent>\n        </xml>'
UNKNOWN_TYPE = '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1348831860</CreateTime>\n        <MsgType><![CDATA[notsure]]></MsgType>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'
XXE = '<?xml version="1.0"?>\n<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<xml><ToUserName>toUser</ToUserName><FromUserName>fromUser</FromUserName><CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>'
LAUGHS = '<?xml version="1.0"?>\n<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>\n<xml><ToUserName>toUser</ToUserName><FromUserName>fromUser</FromUserName><CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>&g;</Content><MsgId>1</MsgId></xml>'


def sha1_signature(*parts: str) -> str:
    """WeChat's signature, computed here independently of connector.wechat.crypto."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def plain_query(timestamp: int | None = None, nonce: str = "1320562132", token: str = TOKEN):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": sha1_signature(token, timestamp, nonce), "timestamp": timestamp,
            "nonce": nonce, "openid": "o-test"}


def aes_query(encrypt: str, timestamp: int | None = None, nonce: str = "1320562132"):
    query = plain_query(timestamp, nonce)
    query |= {"encrypt_type": "aes",
              "msg_signature": sha1_signature(TOKEN, query["timestamp"], nonce, encrypt)}
    return query


def settings_for(tmp_path, *, aes: bool, **overrides):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("version: 1\n")
    values = dict(
        SALESFORCE_CLIENT_ID="dummy-client", SALESFORCE_CLIENT_SECRET="dummy-secret",
        WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET="dummy-app-secret", WECHAT_TOKEN=TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY if aes else None, WECHAT_PREVIOUS_ENCODING_AES_KEY=None,
        WECHAT_ORIGINAL_ID=None, MAPPING_FILE=str(mapping),
    )
    return load_settings(**(values | overrides))


@pytest.fixture
def start(tmp_path, redis_conn):
    """start(aes=..., **settings overrides) -> base URL of a running bridge app."""
    servers = []

    def _start(*, aes: bool, redis=None, reply=None, **overrides) -> str:
        app = create_app(settings_for(tmp_path, aes=aes, **overrides),
                         redis if redis is not None else redis_conn, reply=reply)
        server = serve(app)
        servers.append(server)
        return server.url

    yield _start
    for server in servers:
        server.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def post(client, url, body: str | bytes, query):
    content = body.encode() if isinstance(body, str) else body
    return client.post(url + "/wechat/callback", params=query, content=content,
                       headers={"Content-Type": "text/xml"})


def job_ids(redis_conn) -> list[str]:
    return Queue(INBOUND, connection=redis_conn).job_ids


def rejected(redis_conn) -> list[dict]:
    return RejectionLog(redis_conn).recent(CAP)


# --- URL verification ------------------------------------------------------------------------


def test_url_verification_echoes_echostr_verbatim(start, client):
    url = start(aes=False, WECHAT_TOKEN="AAAAA")
    v2a = "/wechat/callback?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492"
    response = client.get(url + v2a)
    assert response.status_code == 200
    assert response.text == "4375120948345356249"
    assert response.headers["content-type"].startswith("text/plain")


def test_url_verification_with_a_bad_signature_is_refused(start, client, redis_conn):
    url = start(aes=False, WECHAT_TOKEN="AAAAA")
    forged = "/wechat/callback?signature=f464b24fc39322e44b38aa78f5edd27bd1441697&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492"
    response = client.get(url + forged)
    assert response.status_code == 403
    assert "4375120948345356249" not in response.text
    assert rejected(redis_conn)[0]["reason"] == "URL verification with a bad signature"


# --- accepted pushes -------------------------------------------------------------------------


def test_plain_push_enqueues_one_job_and_answers_success(start, client, redis_conn):
    url = start(aes=False)
    response = post(client, url, TEXT, plain_query())
    assert (response.status_code, response.text) == (200, "success")
    assert job_ids(redis_conn) == [TEXT_JOB]
    event = Job.fetch(TEXT_JOB, connection=redis_conn).args[0]
    assert (event["openid"], event["fields"]["Content"]) == ("fromUser", "this is a test")


def test_plain_subscribe_scan_carries_the_scene(start, client, redis_conn):
    url = start(aes=False)
    assert post(client, url, SUBSCRIBE_SCAN, plain_query()).status_code == 200
    expected = InboundEvent.from_fields({
        "ToUserName": "toUser", "FromUserName": "FromUser", "CreateTime": "123456789",
        "MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_123123"})
    assert job_ids(redis_conn) == [expected.dedupe_key]
    assert Job.fetch(expected.dedupe_key, connection=redis_conn).args[0]["scene"] == "123123"


def test_safe_push_decrypts_and_enqueues_one_job(start, client, redis_conn):
    url = start(aes=True, WECHAT_ORIGINAL_ID=ORIGINAL_ID)
    response = post(client, url, V1_SAFE, aes_query(V1_ENCRYPT))
    assert (response.status_code, response.text) == (200, "success")
    assert job_ids(redis_conn) == [V1_JOB]
    event = Job.fetch(V1_JOB, connection=redis_conn).args[0]
    assert (event["openid"], event["fields"]["Content"]) == (V1_OPENID, "abcdteT")


def test_compatible_push_trusts_only_the_decrypted_content(start, client, redis_conn):
    url = start(aes=True)
    # An attacker edits the plaintext copy; the signed ciphertext still says the truth.
    forged = V1_COMPATIBLE.replace(V1_OPENID, "o-attacker").replace("abcdteT", "evil")
    response = post(client, url, forged, aes_query(V1_ENCRYPT))
    assert response.status_code == 200
    assert job_ids(redis_conn) == [V1_JOB]
    event = Job.fetch(V1_JOB, connection=redis_conn).args[0]
    assert (event["openid"], event["fields"]["Content"]) == (V1_OPENID, "abcdteT")


def test_previous_key_still_decrypts_during_rotation(start, client, redis_conn):
    url = start(aes=True, WECHAT_ENCODING_AES_KEY="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
                WECHAT_PREVIOUS_ENCODING_AES_KEY=AES_KEY)
    assert post(client, url, V1_SAFE, aes_query(V1_ENCRYPT)).status_code == 200
    assert job_ids(redis_conn) == [V1_JOB]


@pytest.mark.parametrize("aes", [False, True], ids=["plain", "safe"])
def test_the_same_push_four_times_is_one_job(start, client, redis_conn, aes):
    url = start(aes=aes)
    body, query = (V1_SAFE, aes_query(V1_ENCRYPT)) if aes else (TEXT, plain_query())
    answers = [post(client, url, body, query) for _ in range(4)]
    assert [(r.status_code, r.text) for r in answers] == [(200, "success")] * 4
    assert job_ids(redis_conn) == [V1_JOB if aes else TEXT_JOB]


@pytest.mark.parametrize("body", [POPUP_EVENT, UNKNOWN_TYPE], ids=["unknown-event", "unknown-msgtype"])
def test_unknown_types_are_acknowledged_and_enqueued(start, client, redis_conn, body):
    url = start(aes=False)
    response = post(client, url, body, plain_query())
    assert (response.status_code, response.text) == (200, "success")
    assert len(job_ids(redis_conn)) == 1
    event = Job.fetch(job_ids(redis_conn)[0], connection=redis_conn).args[0]
    assert event["msg_type"] in ("event", "notsure")


# --- refused pushes --------------------------------------------------------------------------


def test_forged_signature_is_refused_and_recorded(start, client, redis_conn):
    url = start(aes=False)
    query = plain_query() | {"signature": "0" * 40}
    response = post(client, url, TEXT, query)
    assert response.status_code == 403
    assert job_ids(redis_conn) == []
    [record] = rejected(redis_conn)
    assert (record["status"], record["reason"], record["remote"]) == (403, "bad signature",
                                                                      "127.0.0.1")
    assert record["path"] == "/wechat/callback"
    assert record["sample"] == TEXT[:SAMPLE_BYTES]
    assert query["signature"] not in json.dumps(record) and TOKEN not in json.dumps(record)


def test_safe_mode_needs_msg_signature_not_signature(start, client, redis_conn):
    url = start(aes=True)
    query = aes_query(V1_ENCRYPT) | {"msg_signature": "0" * 40}  # `signature` still valid
    assert post(client, url, V1_SAFE, query).status_code == 403
    assert job_ids(redis_conn) == []
    assert rejected(redis_conn)[0]["reason"] == "bad msg_signature"


def test_plain_push_is_refused_when_a_key_is_configured(start, client, redis_conn):
    url = start(aes=True)
    assert post(client, url, TEXT, plain_query()).status_code == 403
    assert job_ids(redis_conn) == []


@pytest.mark.parametrize("offset", [-3600, 3600])
def test_stale_or_future_timestamp_is_refused(start, client, redis_conn, offset):
    url = start(aes=False, WECHAT_TIMESTAMP_WINDOW=300)
    response = post(client, url, TEXT, plain_query(int(time.time()) + offset))
    assert response.status_code == 403
    assert job_ids(redis_conn) == []
    assert "window" in rejected(redis_conn)[0]["reason"]


def test_body_over_the_cap_is_refused_by_content_length(start, client, redis_conn):
    url = start(aes=False, WECHAT_MAX_BODY_BYTES=4096)
    big = TEXT.replace("this is a test", "x" * 5000)
    response = post(client, url, big, plain_query())
    assert response.status_code == 413
    assert job_ids(redis_conn) == []
    assert rejected(redis_conn)[0]["status"] == 413


def test_chunked_body_over_the_cap_is_refused_while_streaming(start, client, redis_conn):
    url = start(aes=False, WECHAT_MAX_BODY_BYTES=4096)

    def chunks():  # no Content-Length: httpx sends Transfer-Encoding: chunked
        yield TEXT[:40].encode()
        for _ in range(8):
            yield b"x" * 1024

    response = client.post(url + "/wechat/callback", params=plain_query(), content=chunks())
    assert response.status_code == 413
    assert job_ids(redis_conn) == []
    record = rejected(redis_conn)[0]
    assert (record["status"], record["sample"][:40]) == (413, TEXT[:40])
    assert len(record["sample"]) == SAMPLE_BYTES


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"garbage \x00\xff not xml", id="garbage"),
        pytest.param(XXE, id="xxe-etc-passwd"),
        pytest.param(LAUGHS, id="billion-laughs"),
        pytest.param("<!DOCTYPE xml>" + TEXT, id="doctype"),
        pytest.param(TEXT[:100], id="truncated"),
        pytest.param("", id="empty"),
        pytest.param('{"ToUserName": "toUser", "MsgType": "text"}', id="json"),
        pytest.param(TEXT.replace("<FromUserName><![CDATA[fromUser]]></FromUserName>", ""),
                     id="no-FromUserName"),
        pytest.param(TEXT.replace("1348831860", "soon"), id="bad-CreateTime"),
    ],
)
@pytest.mark.parametrize("aes", [False, True], ids=["plain-mode", "safe-mode"])
def test_malformed_or_hostile_bodies_are_400_without_a_job(start, client, redis_conn, body, aes):
    # signed with the token (WeChat's `signature`), so the body itself is what is wrong
    url = start(aes=aes)
    query = plain_query() | ({"encrypt_type": "aes", "msg_signature": "0" * 40} if aes else {})
    response = post(client, url, body, query)
    assert response.status_code == 400
    assert "root:" not in response.text  # nothing of /etc/passwd comes back
    assert job_ids(redis_conn) == []
    assert rejected(redis_conn)[0]["status"] == 400


@pytest.mark.parametrize(
    "encrypt",
    [pytest.param("bm90IGEgY2lwaGVydGV4dA==", id="not-ciphertext"),
     pytest.param(V1_ENCRYPT[:-8] + "AAAAAAA=", id="corrupted")],
)
def test_signed_but_undecryptable_push_is_400(start, client, redis_conn, encrypt):
    url = start(aes=True)
    body = V1_SAFE.replace(V1_ENCRYPT, encrypt)
    assert post(client, url, body, aes_query(encrypt)).status_code == 400
    assert job_ids(redis_conn) == []


def test_push_for_another_app_id_is_403(start, client, redis_conn):
    url = start(aes=True, WECHAT_APP_ID="wx0000000000000000")
    assert post(client, url, V1_SAFE, aes_query(V1_ENCRYPT)).status_code == 403
    assert job_ids(redis_conn) == []


def test_push_for_another_account_is_403(start, client, redis_conn):
    url = start(aes=False, WECHAT_ORIGINAL_ID=ORIGINAL_ID)
    assert post(client, url, TEXT, plain_query()).status_code == 403  # ToUserName "toUser"
    assert job_ids(redis_conn) == []
    assert "another account" in rejected(redis_conn)[0]["reason"]


def test_rejection_list_is_capped(redis_conn):
    log = RejectionLog(redis_conn, cap=5)
    for i in range(8):
        log.record({"n": i})
    assert log.count() == 5
    assert [r["n"] for r in log.recent()] == [7, 6, 5, 4, 3]
    assert redis_conn.llen(KEY) == 5


# --- Redis down, health and status ----------------------------------------------------------


ADMIN = "admin-token-" + "0123456789abcdef" * 2
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


def test_redis_down_answers_503_so_wechat_resends(start, client):
    down = connect(f"redis://127.0.0.1:{free_port()}/0")
    url = start(aes=False, redis=down, ADMIN_TOKEN=ADMIN)
    response = post(client, url, TEXT, plain_query())
    assert response.status_code == 503
    health = client.get(url + "/healthz")
    assert (health.status_code, health.json()) == (503, {"status": "unavailable"})
    assert client.get(url + "/status", headers=AS_ADMIN).status_code == 503
    # A refusal still answers its own status when Redis cannot record it.
    assert post(client, url, TEXT, plain_query() | {"signature": "0" * 40}).status_code == 403


def test_healthz_and_status(start, client, redis_conn):
    url = start(aes=False, ADMIN_TOKEN=ADMIN)
    assert client.get(url + "/healthz").json() == {"status": "ok"}
    post(client, url, TEXT, plain_query())
    post(client, url, TEXT, plain_query() | {"signature": "0" * 40})
    status = client.get(url + "/status", headers=AS_ADMIN)
    assert status.status_code == 200
    assert status.json() == {"queue": INBOUND, "queued": 1, "failed": 0, "rejected": 1}


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": f"Bearer {ADMIN[:-1]}x"}, id="wrong-token"),
    pytest.param({"Authorization": f"Basic {ADMIN}"}, id="another-scheme"),
])
def test_status_needs_the_admin_bearer_token(start, client, redis_conn, headers):
    url = start(aes=False, ADMIN_TOKEN=ADMIN)
    post(client, url, TEXT, plain_query())
    refused = client.get(url + "/status", headers=headers)
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    assert refused.text == "unauthorized"  # no count, no queue name
    assert rejected(redis_conn)[0]["path"] == "/status"
    assert ADMIN not in json.dumps(rejected(redis_conn))


def test_status_is_closed_without_an_admin_token(start, client, redis_conn):
    url = start(aes=False)
    refused = client.get(url + "/status", headers=AS_ADMIN)
    assert (refused.status_code, refused.text) == (403, "forbidden")
    assert "ADMIN_TOKEN is not set" in rejected(redis_conn)[0]["reason"]


# --- the sandbox's independent sender (its own crypto, WeChat's resend policy) ----------------


def sender_for(url: str, mode: str) -> CallbackSender:
    return CallbackSender(url + "/wechat/callback", token=TOKEN, app_id=APP_ID,
                          original_id=ORIGINAL_ID, mode=mode,
                          encoding_aes_key=None if mode == "plain" else AES_KEY)


def test_sender_url_verification(start):
    with sender_for(start(aes=False), "plain") as sender:
        assert sender.verify_url().acknowledged


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_sender_scan_is_acknowledged_once_and_enqueued_once(start, redis_conn, mode):
    url = start(aes=mode != "plain", WECHAT_ORIGINAL_ID=ORIGINAL_ID)
    push = pushes.subscribe("o-follower-1", int(time.time()), scene="sfc_7015g00000AbCdE",
                            ticket="T1")
    with sender_for(url, mode) as sender:
        delivery = sender.deliver(push)
    assert (delivery.acknowledged, delivery.attempts) == (True, 1)
    [job_id] = job_ids(redis_conn)
    event = Job.fetch(job_id, connection=redis_conn).args[0]
    assert (event["openid"], event["scene"]) == ("o-follower-1", "sfc_7015g00000AbCdE")


def test_sender_storm_of_one_push_is_one_job(start, redis_conn):
    url = start(aes=True, WECHAT_ORIGINAL_ID=ORIGINAL_ID)
    push = pushes.scan("o-follower-2", int(time.time()), scene="sfc_7015g00000AbCdE", ticket="T")
    with sender_for(url, "safe") as sender:
        deliveries = sender.storm(push, 8)
    assert all(d.acknowledged for d in deliveries)
    assert len(job_ids(redis_conn)) == 1


# The passive-reply seam, read back by the sender as WeChat would.
def greeting(event, message) -> str:
    return (f"<xml><ToUserName><![CDATA[{event.openid}]]></ToUserName>"
            f"<FromUserName><![CDATA[{event.account}]]></FromUserName>"
            f"<CreateTime>{event.create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[welcome]]></Content></xml>")


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_passive_reply_seam_is_readable_by_wechat(start, redis_conn, mode):
    url = start(aes=mode == "safe", WECHAT_ORIGINAL_ID=ORIGINAL_ID, reply=greeting)
    push = pushes.text("o-follower-3", int(time.time()), content="hi", msg_id=42)
    with sender_for(url, mode) as sender:
        delivery = sender.deliver(push)
    assert delivery.acknowledged, delivery.problem
    assert "<Content><![CDATA[welcome]]></Content>" in delivery.reply
    if mode == "safe":
        assert "<Encrypt>" in delivery.body and "welcome" not in delivery.body
    assert job_ids(redis_conn) == [f"wx-msg-{ORIGINAL_ID}-42"]


@pytest.mark.parametrize("inner", [pytest.param(XXE, id="xxe"),
                                   pytest.param(LAUGHS, id="billion-laughs"),
                                   pytest.param("not xml at all", id="garbage")])
def test_hostile_xml_inside_a_valid_encryption_is_400(start, client, redis_conn, inner):
    # correctly encrypted and signed, so only the decrypted content is wrong
    encrypt = wechat_crypto.encrypt(wechat_crypto.aes_key(AES_KEY), inner, APP_ID)
    body = V1_SAFE.replace(V1_ENCRYPT, encrypt)
    url = start(aes=True)
    response = post(client, url, body, aes_query(encrypt))
    assert response.status_code == 400
    assert "root:" not in response.text
    assert job_ids(redis_conn) == []
