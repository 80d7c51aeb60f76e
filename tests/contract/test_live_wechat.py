"""Every WeChat gateway verb that does no harm, against a real account
(``pytest -m internet``).

Inputs beside the credentials (in the LIVE_ENV_FILE): ``LIVE_WECHAT_OPENID``, a follower
who agreed to be tested on (a colleague's phone); ``LIVE_WECHAT_TEMPLATE_ID`` (optional)
sends them one template message; ``LIVE_WECHAT_TAG_ID`` (optional) a tag to read. The
remark is written back unchanged; the QR code is temporary (60 s). Run live, recorded or
replayed: see tests/contract/conftest.py.
"""

from __future__ import annotations

import pytest

from connector.wechat import WeChatGateway

SYSTEM = "wechat"

pytestmark = pytest.mark.internet


@pytest.fixture
def gateway(live, redis_conn):
    return WeChatGateway(live.settings, redis_conn)


@pytest.fixture
def openid(live) -> str:
    value = live.params.get("wechat_openid")
    if not value:
        pytest.skip("set LIVE_WECHAT_OPENID: a follower who agreed to be tested on")
    return value


def test_token_and_credentials(gateway):
    gateway.check_credentials()
    assert gateway.access_token()  # its value is scrubbed from recordings


def test_profiles_tags_and_remark(gateway, openid):
    follower = gateway.get_profile(openid)
    assert follower.openid == openid and follower.subscribed
    gateway.forget(openid)
    assert gateway.get_profiles([openid])[openid].openid == openid
    assert isinstance(gateway.tag_names(refresh=True), dict)
    assert all(isinstance(t, int) for t in gateway.tags_of_user(openid))
    gateway.update_remark(openid, follower.remark or "")  # unchanged


def test_temporary_qr_code(gateway):
    ticket = gateway.create_qrcode("bridge-contract-test", expire_seconds=60)
    assert ticket.ticket and gateway.qrcode_image_url(ticket.ticket).startswith("https://")


def test_tag_members(gateway, live):
    tag = live.params.get("wechat_tag_id")
    if not tag:
        pytest.skip("set LIVE_WECHAT_TAG_ID to read a tag's members")
    assert all(isinstance(o, str) for o in gateway.tag_members(int(tag)))


def test_template_message(gateway, live, openid):
    template = live.params.get("wechat_template_id")
    if not template:
        pytest.skip("set LIVE_WECHAT_TEMPLATE_ID to send the test follower one template")
    msgid = gateway.send_template(openid, template, {"first": {"value": "bridge contract test"}},
                                  client_msg_id="bridge-contract-test")
    assert msgid.isdigit()
