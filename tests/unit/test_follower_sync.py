"""Planning the way back's writes against WeChat's state: remarks cut on a UTF-8
boundary, tags diffed (managed ones only), WeChat's limits applied with reasons."""

from __future__ import annotations

import pytest

from connector.chunks import chunks
from connector.follower import Follower
from connector.wayback.plan import (
    TAGGING_BATCH,
    Wish,
    cut_remark,
    merge,
    plan_account,
    split_tags,
)

NAMES = {2: "星标组", 100: "VIP", 101: "SF-Gold", 102: "SF-Silver", 103: "Staff pick"}


def follower(openid: str = "o1", *, remark: str = "", tags: tuple[int, ...] = (),
             subscribed: bool = True) -> Follower:
    return Follower(openid=openid, subscribed=subscribed, remark=remark, tag_ids=tags)


@pytest.mark.parametrize("text, cut", [
    ("Zhang San", "Zhang San"),
    ("a" * 29, "a" * 29),
    ("a" * 30, "a" * 29),  # WeChat wants under 30 bytes
    ("张三丰先生来自北京市海淀区", "张三丰先生来自北京市海淀区"[:9]),  # 9 × 3 bytes = 27
    ("ab张三丰先生来自北京市海淀区", "ab" + "张三丰先生来自北京"),  # 2 + 27 = 29
    ("abc张三丰先生来自北京市海淀区", "abc" + "张三丰先生来自北"),  # never half a character
    ("", ""),
])
def test_a_remark_is_cut_to_29_bytes_on_a_character_boundary(text, cut):
    assert cut_remark(text) == cut
    assert len(cut_remark(text).encode("utf-8")) <= 29


def test_tag_text_is_split_stripped_and_deduplicated():
    assert split_tags(" VIP; Gold;;VIP ;", ";") == ["VIP", "Gold"]
    assert split_tags(None, ";") == []
    assert split_tags("a,b", ",") == ["a", "b"]


def test_a_remark_already_set_costs_no_call_and_a_new_one_is_written():
    profiles = {"o1": follower("o1", remark="Zhang"), "o2": follower("o2", remark="Li")}
    plan = plan_account([Wish("o1", "Lead/1", remark="Zhang"),
                         Wish("o2", "Lead/2", remark="Wang Wu")], profiles, NAMES)
    assert plan.remarks == {"o2": "Wang Wu"}
    assert plan.unchanged == 1 and plan.calls() == 1


def test_a_blank_salesforce_value_clears_the_remark_but_none_leaves_it():
    profiles = {"o1": follower("o1", remark="Zhang")}
    assert plan_account([Wish("o1", "s", remark="")], profiles, NAMES).remarks == {"o1": ""}
    assert plan_account([Wish("o1", "s", remark=None)], profiles, NAMES).empty


def test_tags_are_diffed_created_when_missing_and_reserved_ones_kept():
    profiles = {"o1": follower("o1", tags=(2, 100, 103))}
    plan = plan_account([Wish("o1", "s", tags=frozenset({"VIP", "SF-Gold", "New"}))],
                        profiles, NAMES)
    assert plan.create == ["New"]
    assert plan.tag == {"New": ["o1"], "SF-Gold": ["o1"]}
    assert plan.untag == {103: ["o1"]}  # "Staff pick"; 星标组 (2) is WeChat's own


def test_with_a_prefix_only_the_bridges_tags_are_added_or_removed():
    profiles = {"o1": follower("o1", tags=(100, 101, 102, 103))}
    plan = plan_account([Wish("o1", "s", tags=frozenset({"SF-Gold", "VIP", "SF-Bronze"}))],
                        profiles, NAMES, prefix="SF-")
    assert plan.create == ["SF-Bronze"]
    assert plan.tag == {"SF-Bronze": ["o1"]}
    assert plan.untag == {102: ["o1"]}  # SF-Silver; VIP and Staff pick are not managed


def test_an_empty_tag_set_removes_the_managed_tags():
    profiles = {"o1": follower("o1", tags=(100, 101))}
    plan = plan_account([Wish("o1", "s", tags=frozenset())], profiles, NAMES, prefix="SF-")
    assert plan.untag == {101: ["o1"]} and not plan.tag


def test_a_follower_never_gets_more_than_20_tags():
    names = {100 + i: f"T{i:02d}" for i in range(30)}
    profiles = {"o1": follower("o1", tags=tuple(range(100, 118)))}  # 18 tags
    wanted = {f"T{i:02d}" for i in range(22)}  # keeps the 18, asks for 4 more
    plan = plan_account([Wish("o1", "Lead/1", tags=frozenset(wanted))], profiles, names)
    assert plan.tag == {"T18": ["o1"], "T19": ["o1"]}
    assert any("more than 20 tags" in r and "T20, T21" in r for r in plan.refused)


def test_the_account_never_gets_more_than_100_tags():
    names = {2: "星标组", **{100 + i: f"T{i:02d}" for i in range(99)}}
    profiles = {"o1": follower("o1"), "o2": follower("o2")}
    plan = plan_account([Wish("o1", "Lead/1", tags=frozenset({"A", "B"})),
                         Wish("o2", "Lead/2", tags=frozenset({"A"}))], profiles, names)
    assert plan.create == ["A"]
    assert plan.tag == {"A": ["o1", "o2"]}
    assert any("'B' not created" in r and "100 tags" in r for r in plan.refused)


def test_names_over_30_bytes_are_refused():
    plan = plan_account([Wish("o1", "s", tags=frozenset({"超过三十个字节的标签名称真的太长了"}))],
                        {"o1": follower("o1")}, NAMES)
    assert plan.empty and "over 30 bytes" in plan.refused[0]


def test_followers_who_left_or_are_unknown_are_not_written():
    plan = plan_account([Wish("o1", "Lead/1", remark="x"), Wish("o2", "Lead/2", remark="y")],
                        {"o1": follower("o1", subscribed=False)}, NAMES)
    assert plan.empty
    assert [r.split(":")[0] for r in plan.refused] == ["Lead/1", "Lead/2"]


def test_many_followers_share_one_tag_call_per_50():
    profiles = {f"o{i:03d}": follower(f"o{i:03d}") for i in range(120)}
    plan = plan_account([Wish(o, "s", tags=frozenset({"VIP"})) for o in profiles], profiles,
                        NAMES)
    assert len(plan.tag["VIP"]) == 120
    assert [len(c) for c in chunks(plan.tag["VIP"], TAGGING_BATCH)] == [50, 50, 20]
    assert plan.calls() == 3


def test_two_records_of_one_follower_merge():
    merged = merge([Wish("o1", "Lead/1", remark="A"), Wish("o1", "F/1", tags=frozenset({"X"})),
                    Wish("o1", "Lead/1", remark="B")])
    assert merged["o1"].remark == "B" and merged["o1"].tags == frozenset({"X"})
