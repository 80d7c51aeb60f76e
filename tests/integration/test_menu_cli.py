"""The custom menu end to end: the mapping's menu: published with `connector menu` to the
WeChat sandbox over HTTPS (the bridge's gateway, wechatpy, a real Redis), shown, diffed,
published again without a call, a conditional menu for a tag, and people clicking it."""

from __future__ import annotations

import json

import pytest

from connector.cli import main
from connector.settings import DEFAULT_MAPPING, get_settings

CREATE, ADD, DELETE = ("/cgi-bin/menu/create", "/cgi-bin/menu/addconditional",
                       "/cgi-bin/menu/delconditional")
SEGMENT = "Menu VIP"  # a Salesforce segment the way back synced as a tag
MENU = f"""
menu:
  buttons:
    - {{name: 优惠, type: click, key: MENU_OFFERS}}
    - name: 更多
      sub_button:
        - {{name: 价格, type: click, key: MENU_PRICES}}
        - {{name: Shop, type: view, url: "https://shop.example.cn/"}}
  conditional:
    - tag: {SEGMENT}
      buttons:
        - {{name: VIP, type: click, key: MENU_VIP}}
        - {{name: 优惠, type: click, key: MENU_OFFERS}}
"""


def with_menu(menu: str):
    return lambda _box: DEFAULT_MAPPING.read_text(encoding="utf-8") + menu


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def menu_bridge(make_bridge, fresh_settings):
    bridge = make_bridge(mapping=with_menu(MENU))
    people = bridge.box.population
    tag = people.create_tag(SEGMENT)
    vip, plain = people.openids(subscribed=True)[:2]
    people.tag([vip], tag)
    bridge.box.wechat.reset_api_calls()
    return bridge, vip, plain


def calls(bridge, path):
    return bridge.box.wechat.api_calls[path]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["menu", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_publish_twice_is_one_menu_and_the_second_publish_calls_nothing(menu_bridge, capsys):
    bridge, vip, plain = menu_bridge
    wx = bridge.box.wechat

    code, out, _ = run(capsys, "diff")
    assert code == 1 and "--- WeChat" in out and '+  "default": [' in out

    code, out, _ = run(capsys, "publish", "--dry-run")
    assert code == 0 and "would create the default menu (2 buttons)" in out
    planned = json.loads(out[out.index("["):])
    assert [c["call"] for c in planned] == ["menu/create", "menu/addconditional"]
    assert planned[1]["body"]["matchrule"] == {
        "tag_id": str(next(t["id"] for t in wx.population.tags() if t["name"] == SEGMENT))}
    assert calls(bridge, CREATE) == 0 and wx.menus.selfmenu_info()["is_menu_open"] == 0

    code, out, _ = run(capsys, "publish")
    assert code == 0 and "create the default menu" in out
    assert f"add the conditional menu for tag '{SEGMENT}': menuid " in out
    assert (calls(bridge, CREATE), calls(bridge, ADD)) == (1, 1)

    code, out, _ = run(capsys, "publish")
    assert code == 0 and "nothing published" in out
    assert (calls(bridge, CREATE), calls(bridge, ADD), calls(bridge, DELETE)) == (1, 1, 0)
    menu = wx.menus.get()
    assert len(menu["menu"]["button"]) == 2 and len(menu["conditionalmenu"]) == 1

    code, out, _ = run(capsys, "diff")
    assert code == 0 and "the same as" in out
    code, out, _ = run(capsys, "show")
    assert code == 0 and f'"tag": "{SEGMENT}"' in out and "the same as" in out

    # the segment sees its own menu; everyone else the default
    code, out, _ = run(capsys, "trymatch", vip)
    assert code == 0 and [b["name"] for b in json.loads(out)] == ["VIP", "优惠"]
    code, out, _ = run(capsys, "trymatch", plain)
    assert [b["name"] for b in json.loads(out)] == ["优惠", "更多"]
    assert bridge.sender.deliver(wx.click(vip, "MENU_VIP")).acknowledged
    assert bridge.sender.deliver(wx.click(plain, "MENU_PRICES")).acknowledged
    with pytest.raises(ValueError):
        wx.click(plain, "MENU_VIP")  # not on their menu: WeChat cannot push it


def test_a_changed_menu_is_shown_as_different_and_republished(menu_bridge, capsys, tmp_path):
    bridge, vip, _ = menu_bridge
    assert run(capsys, "publish")[0] == 0
    path = tmp_path / "mapping.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: Shop", "name: Store"),
                    encoding="utf-8")

    code, out, _ = run(capsys, "show")
    assert code == 0 and "DIFFERS from" in out
    code, out, _ = run(capsys, "diff")
    assert code == 1
    assert '-          "name": "Shop",' in out and '+          "name": "Store",' in out

    code, out, _ = run(capsys, "publish")
    assert code == 0 and "create the default menu" in out and "conditional" not in out
    assert (calls(bridge, CREATE), calls(bridge, ADD), calls(bridge, DELETE)) == (2, 1, 0)

    # a conditional menu changed: WeChat's is replaced, not added to
    path.write_text(path.read_text(encoding="utf-8").replace("name: VIP,", "name: Gold,"),
                    encoding="utf-8")
    code, out, _ = run(capsys, "publish")
    assert code == 0 and "delete the conditional menu" in out
    assert (calls(bridge, CREATE), calls(bridge, ADD), calls(bridge, DELETE)) == (2, 2, 1)
    assert len(bridge.box.wechat.menus.get()["conditionalmenu"]) == 1
    assert bridge.box.wechat.menus.try_match(vip)["button"][0]["name"] == "Gold"


def test_a_tag_wechat_does_not_have_is_named(make_bridge, fresh_settings, capsys):
    bridge = make_bridge(mapping=with_menu(MENU.replace(f"tag: {SEGMENT}", "tag: Nobody")))
    code, _, err = run(capsys, "publish")
    assert code == 2 and "the tag(s) 'Nobody', which the WeChat account does not have" in err
    assert calls(bridge, CREATE) == 0


def test_a_fourth_button_is_refused_with_its_line(make_bridge, fresh_settings, capsys,
                                                  tmp_path):
    four = MENU.replace("    - name: 更多", "    - {name: B, type: click, key: B}\n"
                        "    - {name: C, type: click, key: C}\n    - name: 更多")
    bridge = make_bridge(mapping=with_menu(MENU))
    path = tmp_path / "mapping.yaml"
    text = DEFAULT_MAPPING.read_text(encoding="utf-8") + four
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    - name: 更多") + 1
    code, _, err = run(capsys, "publish")
    assert code == 2
    assert f"mapping.yaml:{line}:7: menu.buttons.3: a menu has at most 3 top-level" in err
    assert calls(bridge, CREATE) == 0


def test_each_account_gets_its_own_menu(make_bridge, fresh_settings, capsys):
    def mapping(box):
        store_b = box.more_wechat[0].original_id
        return with_menu(f"""
menu:
  buttons:
    - {{name: Main, type: click, key: MENU_MAIN}}
accounts:
  {store_b}:
    menu:
      buttons:
        - {{name: Store B, type: click, key: MENU_B}}
""")(box)

    bridge = make_bridge(accounts=2, mapping=mapping)
    wx_a, wx_b = bridge.box.wechat, bridge.box.more_wechat[0]
    assert run(capsys, "publish", "--account", wx_b.original_id)[0] == 0
    assert wx_b.menus.get()["menu"]["button"][0]["key"] == "MENU_B"
    assert wx_a.menus.selfmenu_info()["is_menu_open"] == 0  # store A's untouched
    assert run(capsys, "publish")[0] == 0  # the primary account's
    assert wx_a.menus.get()["menu"]["button"][0]["key"] == "MENU_MAIN"
    code, _, err = run(capsys, "publish", "--account", "gh_000000000000")
    assert code == 2 and "no configured WeChat account" in err
