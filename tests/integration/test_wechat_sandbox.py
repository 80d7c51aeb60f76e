"""The WeChat sandbox over real HTTPS, driven by wechatpy 1.8.18; the push sender against a
small local receiver that checks every push with wechatpy's own crypto and parser."""

from __future__ import annotations

import gc
import threading
import time

import pytest
import requests
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import APILimitedException, WeChatClientException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from sandbox.server import serve
from sandbox.wechat import CallbackSender, Population, WeChatSandbox
from sandbox.wechat.tokens import GRACE, LIFETIME
from tests.clocks import Clock

APP_ID, SECRET = "wx5f3a9c0e1d2b4a68", "b7e1c4d2a9f05e3b8c6d1a2f4e9b7c30"
TOKEN, AES_KEY = "bridgetoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"



@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ws(clock):
    return WeChatSandbox(app_id=APP_ID, app_secret=SECRET, clock=clock,
                         population=Population.generate(300, seed=7), force_refresh_per_day=2)


class Api:
    """The sandbox served over HTTPS, and the wechatpy clients pointed at it.

    Clients are closed before the server stops: uvicorn's shutdown waits (10 s) for every
    open TLS keep-alive connection, and a socket stays open while anything (such as the
    traceback of an expected WeChatClientException) still references its response.
    """

    def __init__(self, ws: WeChatSandbox, tls) -> None:
        self.server = serve(ws.app, tls=tls)
        self.url = self.server.url
        self.clients: list[WeChatClient] = []

    def client(self, secret: str = SECRET, appid: str = APP_ID, **kwargs) -> WeChatClient:
        """wechatpy 1.8.18 with the sandbox as base URL: ``API_BASE_URL`` is a class
        attribute and ``fetch_access_token`` hard-codes api.weixin.qq.com, so a subclass
        overrides both."""
        base = f"{self.url}/cgi-bin/"

        class SandboxClient(WeChatClient):
            API_BASE_URL = base

            def fetch_access_token(self):
                return self._fetch_access_token(
                    url=f"{base}token",
                    params={"grant_type": "client_credential", "appid": self.appid,
                            "secret": self.secret})

        client = SandboxClient(appid, secret, **kwargs)
        self.clients.append(client)
        return client

    def stop(self) -> None:
        gc.collect()  # frees responses held by tracebacks of raised-and-caught exceptions
        for client in self.clients:
            client._http.close()
        self.server.stop()


@pytest.fixture
def api(ws, sandbox_tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    running = Api(ws, sandbox_tls)
    yield running
    running.stop()


@pytest.fixture
def client(api):
    return api.client()


def errcode(call) -> int:
    """The errcode wechatpy raised for ``call`` (WeChat-shaped: errmsg ends with a rid)."""
    with pytest.raises(WeChatClientException) as info:
        call()
    assert " rid: " in info.value.errmsg
    return info.value.errcode


# -- population --------------------------------------------------------------------------


def test_population_is_seeded_and_looks_like_wechat():
    first, again = Population.generate(200, seed=3), Population.generate(200, seed=3)
    assert first.followers(subscribed=None) == again.followers(subscribed=None)
    assert first.openids() != Population.generate(200, seed=4).openids()
    ids = first.openids(subscribed=None)
    assert len(set(ids)) == 200 and all(len(o) == 28 for o in ids)
    assert {o[:6] for o in ids} == {first.openid_prefix}
    assert 150 < len(first.openids()) < 200  # about 90 % still follow
    scenes = {r.subscribe_scene for r in first.followers()}
    assert {"ADD_SCENE_QR_CODE", "ADD_SCENE_SEARCH"} <= scenes
    assert any(r.qr_scene_str in first.scenes for r in first.followers())
    stranger = first.new_follower()
    assert stranger.subscribe == 0 and stranger.openid not in ids and stranger.openid in first


# -- users -------------------------------------------------------------------------------


def test_user_info_and_batchget_have_the_post_2021_shape(ws, client):
    follower = ws.population.followers()[0]
    info = client.user.get(follower.openid)
    assert info["subscribe"] == 1 and info["openid"] == follower.openid
    assert info["subscribe_time"] == follower.subscribe_time
    assert {"tagid_list", "subscribe_scene", "qr_scene", "qr_scene_str", "remark"} <= set(info)
    assert not {"nickname", "headimgurl", "sex", "city"} & set(info)
    gone = ws.population.followers(subscribed=False)[0]
    assert set(client.user.get(gone.openid)) <= {"subscribe", "openid", "unionid"}
    assert errcode(lambda: client.user.get(ws.population.openid_prefix + "x" * 22)) == 40003

    hundred = ws.population.openids(subscribed=None)[:100]
    assert [u["openid"] for u in client.user.get_batch(hundred)] == hundred
    too_many = ws.population.openids(subscribed=None)[:101]
    assert errcode(lambda: client.user.get_batch(too_many)) == 40032


def test_follower_list_pages_by_ten_thousand(clock, sandbox_tls, monkeypatch):
    ws = WeChatSandbox(app_id=APP_ID, app_secret=SECRET, clock=clock,
                       population=Population.generate(10_050, seed=1, subscribed_fraction=1))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    api = Api(ws, sandbox_tls)
    try:
        client = api.client()
        first = client.user.get_followers()
        assert (first["total"], first["count"]) == (10_050, 10_000)
        assert first["next_openid"] == first["data"]["openid"][-1]
        assert list(client.user.iter_followers()) == ws.population.openids()
        last = ws.population.openids()[-1]
        assert client.user.get_followers(last) == {"total": 10_050, "count": 0,
                                                   "next_openid": ""}
    finally:
        api.stop()


def test_remark_must_stay_under_30_utf8_bytes(ws, client):
    openid = ws.population.openids()[0]
    client.user.update_remark(openid, "九个汉字的备注名称")  # 27 bytes
    assert ws.population.lookup(openid).remark == "九个汉字的备注名称"
    assert errcode(lambda: client.user.update_remark(openid, "十个汉字的备注名称啊")) == 40092


# -- tokens ------------------------------------------------------------------------------


def test_a_second_token_fetch_retires_the_first_after_five_minutes(ws, api, clock):
    openid = ws.population.openids()[0]
    first = api.client(auto_retry=False)
    first.fetch_access_token()
    second = api.client(auto_retry=False)  # another process, its own fetch
    second.fetch_access_token()
    assert first.access_token != second.access_token
    clock.now += GRACE - 1
    assert first.user.get(openid)["openid"] == openid  # still inside the grace
    clock.now += 2
    assert errcode(lambda: first.user.get(openid)) == 40001
    assert second.user.get(openid)["openid"] == openid
    clock.now += LIFETIME
    assert errcode(lambda: second.user.get(openid)) == 42001
    # wechatpy's own retry on 40001/42001 fetches a new token and succeeds.
    assert api.client(access_token=first.access_token).user.get(openid)


@pytest.mark.parametrize(("appid", "secret", "code"),
                         [(APP_ID, "wrong", 40125), ("wx0000000000000000", SECRET, 40013)])
def test_token_with_wrong_credentials(api, appid, secret, code):
    assert errcode(lambda: api.client(secret, appid).fetch_access_token()) \
        == code


def test_stable_token_is_shared_and_force_refresh_is_limited(ws, api, clock):
    def stable(force=False):
        body = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET,
                "force_refresh": force}
        return requests.post(f"{api.url}/cgi-bin/stable_token", json=body, timeout=5).json()

    def user_info(token):
        params = {"access_token": token, "openid": ws.population.openids()[0]}
        return requests.get(f"{api.url}/cgi-bin/user/info", params=params, timeout=5).json()

    shared = stable()["access_token"]
    assert stable()["access_token"] == shared
    clock.now += 100
    assert stable()["expires_in"] == LIFETIME - 100
    refreshed = stable(force=True)["access_token"]
    clock.now += GRACE - 1
    assert refreshed != shared and user_info(shared)["subscribe"] == 1
    clock.now += 2
    assert user_info(shared)["errcode"] == 40001
    assert user_info(refreshed)["subscribe"] == 1
    stable(force=True)
    limited = stable(force=True)
    assert limited["errcode"] == 45009
    assert limited["errmsg"].startswith("reach max api daily quota limit")
    assert user_info(None)["errcode"] == 41001
    assert user_info("not-a-token")["errcode"] == 40001


# -- QR codes and the population -------------------------------------------------------


def test_scan_follows_through_the_qr_code_and_user_info_shows_it(ws, client):
    code = client.qrcode.create({"expire_seconds": 600, "action_name": "QR_STR_SCENE",
                                 "action_info": {"scene": {"scene_str": "sfc_7015g00000AbCdE"}}})
    assert code["expire_seconds"] == 600 and code["url"].startswith("http://weixin.qq.com/q/")
    person = ws.population.new_follower().openid
    assert client.user.get(person)["subscribe"] == 0

    push = ws.scan(person, "sfc_7015g00000AbCdE")
    assert (push.event, push.get("EventKey")) == ("subscribe", "qrscene_sfc_7015g00000AbCdE")
    assert push.get("Ticket") == code["ticket"]
    info = client.user.get(person)
    assert (info["subscribe"], info["subscribe_scene"], info["qr_scene_str"]) == (
        1, "ADD_SCENE_QR_CODE", "sfc_7015g00000AbCdE")
    again = ws.scan(person, "sfc_7015g00000AbCdE")
    assert (again.event, again.get("EventKey")) == ("SCAN", "sfc_7015g00000AbCdE")
    assert ws.unfollow(person).event == "unsubscribe"
    assert client.user.get(person)["subscribe"] == 0
    assert errcode(lambda: client.qrcode.create({"action_name": "QR_NOPE"})) == 40097


# -- tags ----------------------------------------------------------------------------------


def test_tags_round_trip(ws, client):
    tag_id = client.tag.create("展会 2025")["id"]
    assert errcode(lambda: client.tag.create("展会 2025")) == 45157
    openids = ws.population.openids()[:51]
    assert errcode(lambda: client.tag.tag_user(tag_id, openids)) == 40032
    client.tag.tag_user(tag_id, openids[:50])
    assert tag_id in client.tag.get_user_tag(openids[0])
    assert client.tag.get_tag_users(tag_id)["data"]["openid"] == openids[:50]
    client.tag.untag_user(tag_id, openids[0])
    client.tag.update(tag_id, "Expo 2025")
    assert {"id": tag_id, "name": "Expo 2025", "count": 49} in client.tag.get()
    assert errcode(lambda: client.tag.update(2, "mine")) == 45058
    client.tag.delete(tag_id)
    assert tag_id not in ws.population.lookup(openids[1]).tagid_list
    assert errcode(lambda: client.tag.tag_user(tag_id, openids[1])) == 45159


# -- messages ------------------------------------------------------------------------------


def test_messages_follow_wechat_rules_and_are_recorded(ws, client):
    openid, other = ws.population.openids()[:2]
    assert errcode(lambda: client.message.send_text(openid, "hello")) == 45015  # no window
    ws.text(openid, "hi there")  # the follower writes: 48 hours to answer
    client.message.send_text(openid, "hello")
    sent = client.message.send_template(openid, "TEMPLATE_ID", {"first": {"value": "x"}})
    client.message.send_mass_text([openid, other], "news")
    assert errcode(lambda: client.message.send_mass_text([openid], "solo")) == 40130
    ws.unfollow(other)
    assert errcode(lambda: client.message.send_template(other, "T", {})) == 43004
    kinds = [(m.kind, m.to, m.content) for m in ws.sent_messages]
    assert kinds == [("custom", (openid,), "hello"), ("template", (openid,), None),
                     ("mass", (openid, other), "news")]
    assert ws.sent_messages[1].msgid == sent["msgid"]


# -- faults and counters -----------------------------------------------------------------


def test_faults_answer_in_wechat_shape_and_calls_are_counted(ws, client, api):
    openid = ws.population.openids()[0]
    client.user.get(openid)
    ws.reset_api_calls()
    ws.faults.add(endpoint="/cgi-bin/user/info$", status=200, code="45009", count=1)
    with pytest.raises(APILimitedException) as limited:
        client.user.get(openid)
    assert limited.value.errcode == 45009 and " rid: " in limited.value.errmsg
    ws.faults.add(endpoint="/cgi-bin/user/info$", status=200, code="45011", count=1)
    assert errcode(lambda: client.user.get(openid)) == 45011
    ws.faults.add(endpoint="/cgi-bin/user/info$", status=200, count=1)
    assert errcode(lambda: client.user.get(openid)) == -1
    requests.post(f"{api.url}/__sandbox__/faults", timeout=5,
                  json={"endpoint": "user/info", "status": 503, "count": 1})
    with pytest.raises(WeChatClientException) as unavailable:
        client.user.get(openid)
    assert unavailable.value.response.status_code == 503
    assert client.user.get(openid)["openid"] == openid
    assert ws.api_calls["/cgi-bin/user/info"] == 5
    calls = requests.get(f"{api.url}/__sandbox__/wechat/calls", timeout=5).json()
    assert calls == {"/cgi-bin/user/info": 5}


# -- the push sender -----------------------------------------------------------------------


class Receiver:
    """A bridge stand-in: checks pushes with wechatpy, sleeps on chosen attempts."""

    def __init__(self, *, slow_attempts=(), status=200, reply=None, sleep=0.8):
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.requests: list[tuple[dict, str]] = []
        self.pushes = []
        self.lock = threading.Lock()
        self.slow_attempts, self.status, self.reply, self.sleep = (
            set(slow_attempts), status, reply, sleep)
        self.app = FastAPI()
        self.app.get("/wechat/callback")(self.verify)
        self.app.post("/wechat/callback")(self.receive)

    def verify(self, signature: str, timestamp: str, nonce: str, echostr: str):
        check_signature(TOKEN, signature, timestamp, nonce)
        return PlainTextResponse(echostr)

    async def receive(self, request: Request):
        query, body = dict(request.query_params), (await request.body()).decode()
        with self.lock:
            self.requests.append((query, body))
            attempt = len(self.requests)
        check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
        if query.get("encrypt_type") == "aes":
            body = self.crypto.decrypt_message(body, query["msg_signature"],
                                               query["timestamp"], query["nonce"])
        message = parse_message(body)
        with self.lock:
            self.pushes.append(message)
        if attempt in self.slow_attempts:
            time.sleep(self.sleep)  # sync sleep on purpose: the sender must give up first
        if self.reply:
            xml = TextReply(source=message.target, target=message.source,
                            content=self.reply).render()
            return PlainTextResponse(self.crypto.encrypt_message(xml, query["nonce"]))
        return PlainTextResponse("success", status_code=self.status)


def start(receiver, ws, mode="safe"):
    server = serve(receiver.app)
    sender = CallbackSender(f"{server.url}/wechat/callback", token=TOKEN, app_id=APP_ID,
                            original_id=ws.original_id, encoding_aes_key=AES_KEY, mode=mode,
                            timeout=0.5)
    return server, sender


@pytest.mark.parametrize("mode", ["safe", "compatible", "plain"])
def test_sender_resends_the_same_push_after_a_timeout(ws, mode):
    receiver = Receiver(slow_attempts={1})
    server, sender = start(receiver, ws, mode)
    try:
        push = ws.scan(ws.population.new_follower().openid, "sfc_7015g00000AbCdE")
        delivery = sender.deliver(push)
    finally:
        sender.close()
        server.stop()
    assert (delivery.attempts, delivery.statuses, delivery.acknowledged) == (2, (None, 200), True)
    assert receiver.requests[0] == receiver.requests[1]  # same query, same body
    query = receiver.requests[0][0]
    assert query["openid"] == push.openid
    assert ("msg_signature" in query) == (mode != "plain")
    event = receiver.pushes[0]
    assert (event.event, event.scene_id, event.ticket) == (
        "subscribe_scan", "sfc_7015g00000AbCdE", push.get("Ticket"))
    assert (event.source, event.target) == (push.openid, ws.original_id)


def test_sender_gives_up_after_three_resends(ws):
    receiver = Receiver(status=500)
    server, sender = start(receiver, ws)
    try:
        delivery = sender.deliver(ws.text(ws.population.openids()[0], "你好"))
    finally:
        sender.close()
        server.stop()
    assert (delivery.attempts, delivery.status, delivery.acknowledged) == (4, 500, False)
    assert len({body for _, body in receiver.requests}) == 1
    assert receiver.pushes[0].content == "你好"


def test_sender_decrypts_an_encrypted_passive_reply(ws):
    receiver = Receiver(reply="欢迎关注")
    server, sender = start(receiver, ws)
    try:
        delivery = sender.deliver(ws.follow())
        assert sender.verify_url("4375120948345356249").acknowledged
    finally:
        sender.close()
        server.stop()
    assert delivery.acknowledged and delivery.attempts == 1
    assert "<Content><![CDATA[欢迎关注]]></Content>" in delivery.reply


def test_sender_flags_a_plaintext_reply_in_safe_mode(ws):
    receiver = Receiver()
    receiver.app.router.routes.clear()
    receiver.app.post("/wechat/callback")(lambda: PlainTextResponse("<xml>hello</xml>"))
    server, sender = start(receiver, ws)
    ws.set_menu([{"type": "click", "name": "One", "key": "MENU_1"}])
    try:
        delivery = sender.deliver(ws.click(ws.population.openids()[0], "MENU_1"))
    finally:
        sender.close()
        server.stop()
    assert (delivery.attempts, delivery.acknowledged) == (1, False)
    assert "plaintext reply" in delivery.problem


def test_resend_storm_delivers_one_push_many_times(ws):
    receiver = Receiver()
    server, sender = start(receiver, ws)
    ws.set_menu([{"type": "view", "name": "Site", "url": "https://example.cn"}])
    try:
        deliveries = sender.storm(ws.view(ws.population.openids()[0], "https://example.cn"), 6)
    finally:
        sender.close()
        server.stop()
    assert [d.acknowledged for d in deliveries] == [True] * 6
    assert len(receiver.requests) == 6 and len({b for _, b in receiver.requests}) == 1
    assert {p.url for p in receiver.pushes} == {"https://example.cn"}
