"""The WeChat emulator's custom menu API over real HTTPS, driven by wechatpy: WeChat's
limits and errcodes (sources in sandbox/wechat/menus.py), personalised menus by tag, and
people clicking only what their menu holds."""

from __future__ import annotations

import pytest

from sandbox.wechat import Population, WeChatSandbox
from sandbox.wechat.errors import ApiError
from tests.integration.test_wechat_sandbox import APP_ID, SECRET, Api, Clock, errcode

GO = {"type": "click", "name": "Go", "key": "MENU_GO"}
VIP = {"type": "click", "name": "VIP", "key": "MENU_VIP"}


@pytest.fixture
def ws():
    return WeChatSandbox(app_id=APP_ID, app_secret=SECRET, clock=Clock(),
                         population=Population.generate(50, seed=5), conditional_menu_limit=2)


@pytest.fixture
def client(ws, sandbox_tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    api = Api(ws, sandbox_tls)
    yield api.client()
    api.stop()


def sub(*buttons):
    return {"name": "More", "sub_button": list(buttons)}


# (menu/create body's buttons, the errcode WeChat answers)
REFUSED = {
    "no button": ([], 40016),
    "four buttons": ([GO, GO, GO, GO], 40016),
    "an unknown type": ([{**GO, "type": "tap"}], 40017),
    "a name of 18 bytes": ([{**GO, "name": "今日歌曲推荐"}], 40018),
    "a key of 129 bytes": ([{**GO, "key": "K" * 129}], 40019),
    "a click without key": ([{"type": "click", "name": "Go"}], 40019),
    "a url of 1025 bytes": ([{"type": "view", "name": "W", "url": "https://x.cn/" + "a" * 1012}],
                            40020),
    "a third level": ([sub({"name": "Deep", "sub_button": [GO]})], 40022),
    "six sub-buttons": ([sub(GO, GO, GO, GO, GO, GO)], 40023),
    "a sub-button of unknown type": ([sub({**GO, "type": "tap"})], 40024),
    "a sub-button name of 61 bytes": ([sub({**GO, "name": "一" * 20 + "x"})], 40025),
    "a sub-button key of 129 bytes": ([sub({**GO, "key": "K" * 129})], 40026),
    "a sub-button url of 1025 bytes": ([sub({"type": "view", "name": "W",
                                             "url": "https://x.cn/" + "a" * 1012})], 40027),
    "a sub-button url without scheme": ([sub({"type": "view", "name": "W", "url": "x.cn"})],
                                        40054),
    "a url without scheme": ([{"type": "view", "name": "W", "url": "www.x.cn"}], 40055),
    "a miniprogram without pagepath": ([{"type": "miniprogram", "name": "A", "url": "https://x.cn",
                                         "appid": "wx286b93c14bbf93aa"}], 47001),
}


@pytest.mark.parametrize("buttons, code", REFUSED.values(), ids=REFUSED.keys())
def test_menu_create_refuses_what_wechat_refuses(client, ws, buttons, code):
    assert errcode(lambda: client.menu.create({"button": buttons})) == code
    assert errcode(lambda: client.get("menu/get")) == 46003  # nothing was stored


def test_limits_themselves_are_accepted(client):
    client.menu.create({"button": [
        {**GO, "name": "一二三四五"},  # 15 bytes
        sub(*[{**GO, "name": "一" * 20}] * 5),  # 60 bytes, five of them
        {"type": "view", "name": "W", "url": "https://x.cn/" + "a" * 1011}]})  # 1024 bytes


def test_create_get_and_delete(client, ws):
    assert client.menu.get() is None  # 46003 "menu no exist", which wechatpy reads as None
    assert client.menu.get_menu_info() == {"is_menu_open": 0, "selfmenu_info": {"button": []}}
    client.menu.create({"button": [GO, sub({"type": "view", "name": "W", "url": "https://x.cn"})]})
    assert client.menu.get() == {"menu": {"button": [
        {**GO, "sub_button": []},
        {"name": "More", "sub_button": [
            {"type": "view", "name": "W", "url": "https://x.cn", "sub_button": []}]}]}}
    info = client.menu.get_menu_info()
    assert info["is_menu_open"] == 1 and info["selfmenu_info"]["button"][1]["sub_button"] == {
        "list": [{"type": "view", "name": "W", "url": "https://x.cn"}]}
    client.menu.delete()
    assert client.menu.get() is None


def test_personalised_menus_by_tag(client, ws):
    tag = ws.population.create_tag("Menu segment")
    vip, plain = ws.population.openids()[:2]
    ws.population.tag([vip], tag)
    rule = {"tag_id": str(tag)}
    assert errcode(lambda: client.menu.add_conditional({"button": [VIP], "matchrule": rule})) \
        == 65303  # a default menu first
    client.menu.create({"button": [GO]})
    assert errcode(lambda: client.menu.add_conditional({"button": [VIP], "matchrule": {}})) \
        == 65304
    assert errcode(lambda: client.menu.add_conditional(
        {"button": [VIP], "matchrule": {"tag_id": str(tag), "sex": "1"}})) == 65320
    assert errcode(lambda: client.menu.add_conditional(
        {"button": [VIP], "matchrule": {"tag_id": "999"}})) == 45159
    assert errcode(lambda: client.menu.add_conditional(
        {"button": [GO, GO, GO, GO], "matchrule": rule})) == 40016

    menuid = client.menu.add_conditional({"button": [VIP], "matchrule": rule})["menuid"]
    assert isinstance(menuid, str) and menuid.isdigit()
    assert client.menu.try_match(vip) == {"button": [{**VIP, "sub_button": []}]}
    assert client.menu.try_match(plain) == {"button": [{**GO, "sub_button": []}]}
    assert errcode(lambda: client.menu.try_match("oNobody")) == 65302
    [listed] = client.menu.get()["conditionalmenu"]
    assert (listed["menuid"], listed["matchrule"]) == (int(menuid), rule)

    newer = client.menu.add_conditional({"button": [{**VIP, "key": "MENU_NEWER"}],
                                         "matchrule": rule})["menuid"]
    assert client.menu.try_match(vip)["button"][0]["key"] == "MENU_NEWER"  # newest first
    assert errcode(lambda: client.menu.add_conditional(
        {"button": [VIP], "matchrule": rule})) == 65305  # this sandbox allows two

    client.menu.del_conditional(newer)
    assert errcode(lambda: client.menu.del_conditional(newer)) == 65301
    client.menu.delete()  # the default menu and every personalised one
    assert client.menu.get() is None
    assert errcode(lambda: client.menu.del_conditional(menuid)) == 65301


def test_personalised_menus_link_at_most_three_domains(client, ws):
    tag = ws.population.create_tag("Menu segment")
    client.menu.create({"button": [GO]})

    def links(*hosts):
        return {"button": [sub(*[{"type": "view", "name": h, "url": f"https://{h}/"}
                                 for h in hosts])], "matchrule": {"tag_id": str(tag)}}

    client.menu.add_conditional(links("a.cn", "b.cn"))
    assert errcode(lambda: client.menu.add_conditional(links("c.cn", "d.cn"))) == 65316
    client.menu.add_conditional(links("a.cn", "c.cn"))


def test_people_click_only_what_their_menu_holds(ws):
    tag = ws.population.create_tag("Menu segment")
    vip, plain = ws.population.openids()[:2]
    ws.population.tag([vip], tag)
    with pytest.raises(ValueError, match="no click button with key 'MENU_GO'"):
        ws.click(plain, "MENU_GO")  # no menu yet
    ws.set_menu([GO, {"type": "view", "name": "W", "url": "https://x.cn"}])
    assert ws.click(plain, "MENU_GO").get("EventKey") == "MENU_GO"
    ws.view(plain, "https://x.cn")
    with pytest.raises(ValueError):
        ws.view(plain, "https://elsewhere.cn")
    with pytest.raises(ValueError):
        ws.click(plain, "MENU_VIP")
    ws.menus.add_conditional({"button": [VIP], "matchrule": {"tag_id": str(tag)}})
    assert ws.click(vip, "MENU_VIP").get("EventKey") == "MENU_VIP"
    with pytest.raises(ValueError):
        ws.click(vip, "MENU_GO")  # the VIP's menu is the personalised one
    with pytest.raises(ValueError):
        ws.click(plain, "MENU_VIP")
    with pytest.raises(ApiError):
        ws.set_menu([GO, GO, GO, GO])
