"""QR codes, the pure parts: scenes and their versions, lifetimes, the permanent-code
limit, record Ids, WeChat's QR errcodes, the qrcode/create body, and the mapping's
``qr:`` section (checked through the loader, with its lines)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.errors import FatalError
from connector.qr.rules import (
    LimitCheck,
    QrRequestError,
    check_channel,
    code_scene,
    expire_seconds,
    lapsed,
    record_id18,
)
from connector.scenes import parse_scene
from connector.wechat.errors import classify
from connector.wechat.qrcodes import image_url, qrcode_body
from mappings.loader import MappingError, parse_mapping
from mappings.qr_section import REGISTRY_FIELDS
from sandbox.salesforce.ids import IdFactory

SHIPPED = (Path(__file__).resolve().parents[2] / "mappings" / "default.yaml").read_text(
    encoding="utf-8")
# The shipped mapping without its own qr: section (each test adds one).
DEFAULT = SHIPPED[:SHIPPED.index("\nqr:")] + SHIPPED[SHIPPED.index("\nway_back:"):]
CAMPAIGN = "7015g00000AbCdEAAZ"


# -- scenes -------------------------------------------------------------------------------

@pytest.mark.parametrize(("channel", "version", "scene"), [
    (None, 1, f"sfc_{CAMPAIGN}"),
    (None, 2, f"sfc_{CAMPAIGN}.~2"),
    ("store-042", 1, f"sfc_{CAMPAIGN}.store-042"),
    ("store-042", 13, f"sfc_{CAMPAIGN}.store-042~13"),
])
def test_each_code_of_a_record_has_its_own_scene_and_parses_back(channel, version, scene):
    assert code_scene("sfc_", CAMPAIGN, channel, version) == scene
    parsed = parse_scene(scene, ["sfc_", "sfp_"])
    # every version names the same record and channel
    assert (parsed.key, parsed.channel, parsed.version) == (CAMPAIGN, channel, version)


def test_a_scene_longer_than_wechat_takes_is_refused():
    with pytest.raises(QrRequestError, match="64 at most"):
        code_scene("sfc_", CAMPAIGN, "x" * 40, 2)


@pytest.mark.parametrize("channel", ["store 1", "a.b", "v~2", "", "x" * 41, "门店"])
def test_channels_are_plain_words(channel):
    with pytest.raises(QrRequestError, match="letters, digits, - or _"):
        check_channel(channel)


# -- lifetimes and the limit ----------------------------------------------------------------

@pytest.mark.parametrize(("days", "seconds"), [(None, None), (1, 86_400), (30, 2_592_000),
                                               (0.5, 43_200)])
def test_lifetimes(days, seconds):
    assert expire_seconds(days) == seconds


@pytest.mark.parametrize("days", [0, -1, 30.5, 31, 365])
def test_lifetimes_beyond_30_days_are_refused_with_the_fix(days):
    with pytest.raises(QrRequestError, match="at most 30 days.*--temporary 1 to 30"):
        expire_seconds(days)


@pytest.mark.parametrize(("count", "warn", "refuse"), [
    (0, False, False), (89_998, False, False), (89_999, True, False),
    (99_999, True, False), (100_000, True, True), (100_500, True, True),
])
def test_the_permanent_limit_warns_from_90_percent_and_refuses_at_100000(count, warn, refuse):
    check = LimitCheck(count, 100_000)
    assert (check.warn, check.refuse) == (warn, refuse)
    assert ("temporary" in check.message()) is True


def test_lapsed():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert not lapsed(None, at.timestamp() + 10**9)
    assert not lapsed(at, at.timestamp() - 1)
    assert lapsed(at, at.timestamp())


# -- record ids -------------------------------------------------------------------------------

def test_record_ids_become_18_characters_like_salesforce_makes_them():
    made = IdFactory(seed=1).new("701")
    assert record_id18(made[:15]) == made == record_id18(made)


@pytest.mark.parametrize("bad", ["", "701", "7015g00000AbCdE!", "7015g00000AbCdEXYZ"])
def test_bad_record_ids_are_refused(bad):
    with pytest.raises(QrRequestError, match="is not a Salesforce record Id"):
        record_id18(bad)


# -- WeChat ---------------------------------------------------------------------------------

def test_qrcode_create_bodies():
    assert qrcode_body("sfc_1", None) == {
        "action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "sfc_1"}}}
    assert qrcode_body("sfc_1", 60) == {
        "expire_seconds": 60, "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": "sfc_1"}}}
    for scene, seconds in (("", None), ("x" * 65, None), ("s", 2_592_001), ("s", 0)):
        with pytest.raises(ValueError):
            qrcode_body(scene, seconds)


def test_the_image_url_quotes_the_ticket():
    # wechatpy's qrcode_create.json fixture (reference V9)
    ticket = ("gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIE"
              "Z23sUwMEmm3sUw==")
    assert image_url(ticket, "https://mp.weixin.qq.com/") == (
        "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxodHRwOi8vd2"
        "VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw%3D%3D")
    assert image_url("a+b/c", "https://x/").endswith("ticket=a%2Bb%2Fc")


@pytest.mark.parametrize(("errcode", "errmsg", "needle"), [
    (45029, "qrcode count out of limit rid: 631055d7-0798ebc4-24dfe02c", "temporary code"),
    (40053, "invalid action info, please check document rid: 5f69b2e4-53f3fc1f-093ca3a3",
     "1 to 64"),
    (40052, "invalid action name hint: [KQiZMA0008vr22]", "action_name"),
])
def test_wechat_qr_errcodes_are_fatal_and_say_why(errcode, errmsg, needle):
    err = classify(errcode, errmsg, now=0)
    assert type(err) is FatalError and needle in err.message and err.code == str(errcode)


# -- the qr: section ------------------------------------------------------------------------

def load(qr: str):
    """The shipped mapping with ``qr`` (YAML text starting at ``qr:``) appended, at line
    :data:`FIRST` of the file."""
    return parse_mapping(DEFAULT.rstrip("\n") + "\n" + qr, Path("m.yaml"))


FIRST = DEFAULT.rstrip("\n").count("\n") + 2  # the line of "qr:"


def problems(qr: str) -> list[tuple[int, str]]:
    with pytest.raises(MappingError) as caught:
        load(qr)
    return [(line - FIRST, text) for line, _column, text in caught.value.problems]


def test_a_full_section_loads_and_names_its_fields():
    mapping = load("""qr:
  objects:
    Campaign:
      ticket_field: WeChat_QR_Ticket__c
      image_url_field: WeChat_QR_Url__c
      scene_field: WeChat_Scene__c
      request_field: WeChat_QR_Requested__c
    Product2: { scene_prefix: "sfp_", ticket_field: WeChat_QR_Ticket__c }
""")
    assert mapping.qr.prefixes("sfc_") == {"Campaign": "sfc_", "Product2": "sfp_"}
    uses = {(u.path, u.object, u.field, u.use) for u in mapping.qr.field_uses()}
    assert (("qr", "objects", "Campaign", "scene_field"), "Campaign", "WeChat_Scene__c",
            "write") in uses
    assert (("qr", "objects", "Product2", "ticket_field"), "Product2", "WeChat_QR_Ticket__c",
            "write") in uses
    assert {u[2] for u in uses if u[1] == "WeChat_QR_Code__c"} == set(REGISTRY_FIELDS)
    assert mapping.qr.reference_problems("sfc_") == []


def test_without_a_section_campaigns_get_codes_and_nothing_is_checked():
    mapping = load("")
    assert list(mapping.qr.objects) == ["Campaign"] and mapping.qr.field_uses() == []


@pytest.mark.parametrize(("qr", "where", "needle"), [
    ("qr:\n  objects:\n    Product2: { ticket_field: X__c }\n", 2,
     "Product2: missing key 'scene_prefix'"),
    ("qr:\n  objects:\n    Campaign: { scene_prefix: sfc_ }\n", 2,
     "Campaign codes use campaigns.scene_prefix"),
    ("qr:\n  objects:\n    Product2: { scene_prefix: sfp_ }\n    Knowledge__kav:\n"
     "      scene_prefix: sfp_k\n", 2, "'sfp_' is the start of Knowledge__kav's 'sfp_k'"),
    ("qr:\n  objects:\n    Product2: { scene_prefix: sfp_ }\n    Asset: { scene_prefix: sfp_ }"
     "\n", 2, "Asset and Product2 both use scene_prefix 'sfp_'"),
    ("qr:\n  objects:\n    Product2:\n      scene_prefix: \"s.p\"\n", 3,
     "scene_prefix 's.p' must be 1 to 16 letters"),
    ("qr:\n  objects:\n    Product2:\n      scene_prefix: sfp_\n      ticket_field: a b\n", 4,
     "qr.objects.Product2.ticket_field: 'a b' is not a Salesforce API name"),
    ("qr:\n  objects:\n    Product2:\n      scene_prefix: sfp_\n      ticket_field: A__c\n"
     "      scene_field: A__c\n", 3, "must be different fields"),
    ("qr:\n  registry: My Codes\n", 1, "qr.registry: 'My Codes' is not a Salesforce API name"),
    ("qr:\n  objects:\n    Product2:\n      scene_prefix: sfp_\n      ticket: A__c\n", 4,
     "unknown key 'ticket'"),
])
def test_section_problems_name_their_line_and_fix(qr, where, needle):
    [(line, text)] = problems(qr)
    assert needle in text and line == where, (line, text)


def test_a_prefix_starting_like_the_campaigns_one_is_refused_at_its_line():
    with pytest.raises(MappingError) as caught:
        load("qr:\n  objects:\n    Product2: { scene_prefix: sf }\n")
    [(line, _col, text)] = caught.value.problems
    assert line == FIRST + 2
    assert "Product2's scene_prefix 'sf' is the start of Campaign's 'sfc_'" in text
