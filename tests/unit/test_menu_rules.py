"""The mapping's menu: section against WeChat's rules (mappings/menu_section.py), each
refusal on its line; and the publish plan (connector/menu/plan.py): what differs from
WeChat's menu, and nothing when it is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.menu.plan import Conditional, Menus, diff_lines, from_wechat, plan_menu
from connector.settings import DEFAULT_MAPPING
from mappings.loader import MappingError, parse_mapping

BASE = DEFAULT_MAPPING.read_text(encoding="utf-8")
BASE_LINES = BASE.count("\n")


def load(menu: str):
    return parse_mapping(BASE + menu, Path("m.yaml"))


def problems(menu: str) -> list[tuple[int, str]]:
    """(line within ``menu``, message) of every problem."""
    with pytest.raises(MappingError) as info:
        load(menu)
    return [(line - BASE_LINES, text) for line, _col, text in info.value.problems]


CLICK = "{name: Go, type: click, key: K}"
OK_MENU = f"""
menu:
  buttons:
    - {CLICK}
    - name: 更多
      sub_button:
        - {{name: 价格表, type: click, key: MENU_PRICES}}
        - {{name: Shop, type: view, url: "https://shop.example.cn/"}}
        - {{name: App, type: miniprogram, url: "https://x.cn", appid: wx286b93c14bbf93aa,
            pagepath: pages/index}}
        - {{name: Pic, type: media_id, media_id: MEDIA1}}
        - {{name: Read, type: article_view_limited, article_id: ART1}}
    - {{name: Where, type: location_select, key: LOC}}
  conditional:
    - tag: VIP
      buttons:
        - {{name: VIP, type: click, key: MENU_VIP}}
"""


def test_a_valid_menu_loads_with_its_bodies():
    section = load(OK_MENU).menu
    assert section.default_body()["button"][1]["sub_button"][0] == {
        "name": "价格表", "type": "click", "key": "MENU_PRICES"}
    assert section.conditional_body(0, 101) == {
        "button": [{"name": "VIP", "type": "click", "key": "MENU_VIP"}],
        "matchrule": {"tag_id": "101"}}


# (menu text, [(line within the text, words the message holds)])
CASES = {
    "a fourth top-level button": (f"""
menu:
  buttons:
    - {CLICK}
    - {CLICK}
    - {CLICK}
    - {CLICK}
""", [(7, "at most 3 top-level buttons (WeChat's 40016")]),
    "no button": ("""
menu:
  buttons: []
""", [(3, "1 to 3 buttons")]),
    "a sixth sub-button": (f"""
menu:
  buttons:
    - name: More
      sub_button:
        - {CLICK}
        - {CLICK}
        - {CLICK}
        - {CLICK}
        - {CLICK}
        - {CLICK}
""", [(11, "at most 5 sub-buttons (WeChat's 40023")]),
    "a top-level name over 16 bytes: 6 Chinese characters are 18": ("""
menu:
  buttons:
    - {name: 今日歌曲推荐, type: click, key: K}
""", [(4, "is 18 bytes; a top-level button's name takes at most 16")]),
    "16 bytes is fine on top, a sub-button takes 60": ("""
menu:
  buttons:
    - name: 一二三四五
      sub_button:
        - {name: 一二三四五六七八九十一二三四五六七八九十一, type: click, key: K}
""", [(6, "is 63 bytes; a sub-button's name takes at most 60 bytes")]),
    "an unknown type": ("""
menu:
  buttons:
    - {name: Go, type: tap, key: K}
""", [(4, "Input should be 'click'")]),
    "a click button without key": ("""
menu:
  buttons:
    - {name: Go, type: click}
""", [(4, "a button of type click needs key")]),
    "a key over 128 bytes": (f"""
menu:
  buttons:
    - {{name: Go, type: click, key: {"K" * 129}}}
""", [(4, "the key is 129 bytes; WeChat takes 1 to 128 (40019")]),
    "a sub-button key over 128 bytes": (f"""
menu:
  buttons:
    - name: More
      sub_button:
        - {{name: Go, type: scancode_push, key: {"K" * 129}}}
""", [(6, "(40026 invalid button key size)")]),
    "a view without url, with a key": ("""
menu:
  buttons:
    - {name: Go, type: view, key: K}
""", [(4, "type view needs url"), (4, "key does not apply to type view")]),
    "a url over 1024 bytes": (f"""
menu:
  buttons:
    - {{name: Go, type: view, url: "https://x.cn/{"a" * 1020}"}}
""", [(4, "the url is 1033 bytes; WeChat takes at most 1024 (40020")]),
    "a url that is no web link": ("""
menu:
  buttons:
    - {name: Go, type: view, url: "www.example.cn"}
""", [(4, "is not a web link (WeChat's 40055")]),
    "a miniprogram without appid and pagepath": ("""
menu:
  buttons:
    - {name: App, type: miniprogram, url: "https://x.cn"}
""", [(4, "needs appid"), (4, "needs pagepath")]),
    "an article button without article_id": ("""
menu:
  buttons:
    - {name: Read, type: article_id, media_id: M}
""", [(4, "type article_id needs article_id"), (4, "media_id does not apply")]),
    "a parent with a type": (f"""
menu:
  buttons:
    - name: More
      type: click
      sub_button:
        - {CLICK}
""", [(5, "a button with sub_button opens them and does nothing itself: remove type")]),
    "a third level": (f"""
menu:
  buttons:
    - name: More
      sub_button:
        - name: Deeper
          sub_button:
            - {CLICK}
""", [(8, "two levels: 40022")]),
    "a button with neither type nor sub_button": ("""
menu:
  buttons:
    - {name: Go}
""", [(4, "neither a type nor sub_button")]),
    "a tag given two menus, one with four buttons": (f"""
menu:
  buttons:
    - {CLICK}
  conditional:
    - tag: VIP
      buttons: [{CLICK}]
    - tag: VIP
      buttons: [{CLICK}, {CLICK}, {CLICK}, {CLICK}]
""", [(8, "tag 'VIP' has a menu already"),
      (9, "menu.conditional.1.buttons.3: a menu has at most 3")]),
    "an unknown key": ("""
menu:
  buttons:
    - {name: Go, type: click, key: K, colour: red}
""", [(4, "unknown key 'colour'")]),
}


@pytest.mark.parametrize("menu, expected", CASES.values(), ids=CASES.keys())
def test_each_rule_is_refused_on_its_line(menu, expected):
    found = problems(menu)
    assert len(found) == len(expected), found
    for line, words in expected:
        assert any(got == line and words in text for got, text in found), (line, found)


def test_an_account_menu_is_checked_under_accounts():
    menu = f"""
accounts:
  gh_0123456789ab:
    menu:
      buttons: [{CLICK}, {CLICK}, {CLICK}, {CLICK}]
"""
    [(line, text)] = problems(menu)
    assert line == 5 and text.startswith("accounts.gh_0123456789ab: menu.buttons.3:")


# -- the plan -------------------------------------------------------------------------------

GO = [{"name": "Go", "type": "click", "key": "K"}]
MORE = [{"name": "More", "sub_button": [{"name": "Go", "type": "click", "key": "K"}]}]


def wechat(default, *conditional):
    """menu/get's answer: every button with a sub_button list, matchrules with blanks."""
    def listed(buttons):
        return [{**b, "sub_button": listed(b.get("sub_button", []))} for b in buttons]
    answer = {"menu": {"button": listed(default)}}
    if conditional:
        answer["conditionalmenu"] = [
            {"button": listed(b), "matchrule": {"tag_id": str(t), "sex": ""}, "menuid": m}
            for m, t, b in conditional]
    return answer


def wanted(default, *conditional):
    return Menus(default=default, conditional=tuple(
        Conditional(tag_id=t, tag=f"tag{t}", buttons=b) for t, b in conditional))


def test_the_same_menu_plans_nothing():
    current = from_wechat(wechat(MORE, (208, 101, GO), (209, 102, MORE)),
                          {101: "tag101", 102: "tag102"})
    # WeChat matches newest first: 209 (tag 102) is the file's first conditional menu
    plan = plan_menu(wanted(MORE, (102, MORE), (101, GO)), current)
    assert not plan.changes
    assert diff_lines(wanted(MORE, (102, MORE), (101, GO)), current) == []


def test_a_changed_default_is_created_and_conditional_menus_kept():
    current = from_wechat(wechat(GO, (208, 101, GO)), {})
    plan = plan_menu(wanted(MORE, (101, GO)), current)
    assert (plan.create, plan.delete, plan.add) == ({"button": MORE}, (), ())


def test_no_menu_at_all_creates_everything_last_priority_first():
    plan = plan_menu(wanted(GO, (101, GO), (102, MORE)), from_wechat(None, {}))
    assert plan.create == {"button": GO} and plan.delete == ()
    assert [(tag, body["matchrule"]) for tag, body in plan.add] == [
        ("tag102", {"tag_id": "102"}), ("tag101", {"tag_id": "101"})]


@pytest.mark.parametrize("file_conditional", [
    ((101, MORE),),  # other buttons
    ((103, GO),),  # another tag
    ((101, GO), (102, GO)),  # one more
    (),  # none: WeChat's are removed
], ids=["buttons", "tag", "added", "removed"])
def test_any_conditional_change_replaces_them_all(file_conditional):
    current = from_wechat(wechat(GO, (208, 101, GO)), {})
    plan = plan_menu(wanted(GO, *file_conditional), current)
    assert plan.create is None and plan.delete == ("208",)
    assert len(plan.add) == len(file_conditional)


def test_the_diff_names_tags_and_shows_the_change():
    current = from_wechat(wechat(GO, (208, 101, GO)), {101: "VIP"})
    lines = diff_lines(Menus(default=MORE, conditional=(
        Conditional(tag_id=101, tag="VIP", buttons=GO),)), current)
    assert lines[:2] == ["--- WeChat", "+++ mapping file"]
    assert any(line.startswith("+") and '"More"' in line for line in lines)
    assert not any('"VIP"' in line and line[0] in "+-" for line in lines)
