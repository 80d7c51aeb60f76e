"""Auto-replies as data: the ``replies:`` section, a campaign's reply from its fields,
the cut to WeChat's 2048 bytes, which event gets which reply, and the XML the callback
returns (read back by the sandbox's independent reply reader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.events import InboundEvent
from connector.replies.model import (
    ELLIPSIS,
    Article,
    Reply,
    ReplyTarget,
    cut_text,
    reply_from_record,
    reply_target,
    welcome_reply,
)
from connector.replies.passive import render_reply
from mappings.loader import MappingError, parse_mapping
from mappings.org_check import check_against_org
from mappings.reply_section import TEXT_LIMIT_BYTES, RepliesSection
from sandbox.salesforce import SalesforceSandbox
from sandbox.wechat.replies import ReplyError, ReplyReader, parse_reply

BASE = """\
version: 1
follower: { object: WeChat_Follower__c, external_id: OpenId__c }
match:
  - { object: Lead, field: WeChat_OpenId__c, source: follower.openid }
"""
REPLIES = """\
replies:
  text: WeChat_Auto_Reply__c
  article:
    title: WeChat_Reply_Title__c
    description: WeChat_Reply_Description__c
    picture_url: WeChat_Reply_Picture_Url__c
    url: WeChat_Reply_Url__c
"""
CAMPAIGN = "7015g00000AbCdEAAZ"
ACCOUNT, OPENID = "gh_0123456789ab", "oAbCdEfGhIjKlMnOpQrStUvWxYz0"


def mapping(text: str = REPLIES, extra: str = ""):
    return parse_mapping(BASE + extra + text, Path("mapping.yaml"))


def event(kind: str, key: str | None = None, *, at: int = 1_700_000_000) -> InboundEvent:
    fields = {"ToUserName": ACCOUNT, "FromUserName": OPENID, "CreateTime": str(at),
              "MsgType": "event", "Event": kind}
    if key is not None:
        fields["EventKey"] = key
    return InboundEvent.from_fields(fields)


# -- the section ------------------------------------------------------------------------

def test_the_section_reads_its_fields_and_defaults():
    section = mapping().replies
    assert section.enabled and section.campaign_replies
    assert section.on == ["subscribe", "scan"] and section.cache_ttl == 86_400
    assert section.reply_fields() == ["WeChat_Auto_Reply__c", "WeChat_Reply_Title__c",
                                      "WeChat_Reply_Description__c",
                                      "WeChat_Reply_Picture_Url__c", "WeChat_Reply_Url__c"]
    uses = {(u.path, u.object, u.field, u.use) for u in section.field_uses()}
    assert (("replies", "text"), "Campaign", "WeChat_Auto_Reply__c", "read") in uses
    assert (("replies", "article", "url"), "Campaign", "WeChat_Reply_Url__c", "read") in uses
    assert len(uses) == 5


def test_without_the_section_nothing_is_replied_nor_checked():
    m = parse_mapping(BASE, Path("mapping.yaml"))
    assert not m.replies.enabled and m.replies.field_uses() == []
    assert reply_target(event("subscribe"), m) is None


@pytest.mark.parametrize("text, message", [
    ("replies:\n  welcome: { text: hi, article: { title: T } }\n",
     "exactly one of 'text' or 'article'"),
    ("replies:\n  welcome: { text: '   ' }\n", "the welcome text is blank"),
    (f"replies:\n  welcome: {{ text: '{'中' * 700}' }}\n", "2100 bytes; WeChat shows at most"),
    ("replies:\n  welcome: { article: { title: T, url: www.example.com } }\n",
     "starting with https://"),
    ("replies:\n  on: [click]\n", "'subscribe' or 'scan'"),
    ("replies:\n  cache_ttl: 5\n", "greater than or equal to 60"),
    ("replies:\n  article: { url: WeChat_Reply_Url__c }\n", "title"),
    ("replies:\n  txt: WeChat_Auto_Reply__c\n", "txt"),
])
def test_a_wrong_section_is_refused_with_its_line(text, message):
    with pytest.raises(MappingError) as caught:
        mapping(text)
    (line, _, problem), *_ = caught.value.problems
    assert message in problem
    assert line >= 5  # in the replies section, below the four lines of BASE


# -- a campaign's reply from its record -------------------------------------------------

SECTION = mapping().replies


@pytest.mark.parametrize("record, expected", [
    ({"WeChat_Auto_Reply__c": "Thanks for scanning!"}, Reply(text="Thanks for scanning!")),
    ({"WeChat_Auto_Reply__c": "  \n", "WeChat_Reply_Title__c": None}, None),
    ({}, None),
    ({"WeChat_Auto_Reply__c": "text", "WeChat_Reply_Title__c": "Spring sale",
      "WeChat_Reply_Url__c": "https://example.com/s"},
     Reply(article=Article("Spring sale", "", "", "https://example.com/s"))),
    ({"WeChat_Auto_Reply__c": "the text", "WeChat_Reply_Title__c": " ",
      "WeChat_Reply_Url__c": "https://example.com/s"}, Reply(text="the text")),
    ({"WeChat_Auto_Reply__c": "bell\x07 and \x00nul"}, Reply(text="bell and nul")),
])
def test_reply_from_record(record, expected):
    assert reply_from_record(record, SECTION) == expected


def test_a_text_only_section_ignores_article_fields():
    section = RepliesSection(text="WeChat_Auto_Reply__c")
    record = {"WeChat_Auto_Reply__c": "hi", "WeChat_Reply_Title__c": "T"}
    assert reply_from_record(record, section) == Reply(text="hi")


def test_a_long_text_is_cut_to_wechats_limit():
    reply = reply_from_record({"WeChat_Auto_Reply__c": "欢迎" * 2000}, SECTION)
    assert len(reply.text.encode()) <= TEXT_LIMIT_BYTES
    assert reply.text.endswith(ELLIPSIS) and reply.text.startswith("欢迎欢迎")


# -- the cut ----------------------------------------------------------------------------

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # one emoji of 5 code points
FLAG = "\U0001F1E8\U0001F1F3"  # two regional indicators


@pytest.mark.parametrize("text, limit, expected", [
    ("short", 2048, "short"),
    ("x" * 2048, 2048, "x" * 2048),  # exactly the limit: unchanged
    ("x" * 2049, 2048, "x" * 2045 + ELLIPSIS),
    ("ab中文", 8, "ab中文"),  # 8 bytes
    ("ab中文", 7, "ab" + ELLIPSIS),  # 中 (3 bytes) and … (3) do not both fit in 5
    ("abcde\u0301fgh", 8, "abcd" + ELLIPSIS),  # e + combining acute stay together
    ("ab" + FAMILY + "cd", 15, "ab" + ELLIPSIS),  # no half a family
    ("ab" + FLAG + FLAG, 13, "ab" + FLAG + ELLIPSIS),  # whole flags only
    ("ab" + FLAG + FLAG, 11, "ab" + ELLIPSIS),
    ("ab   cdefghij", 8, "ab" + ELLIPSIS),  # no trailing blank before the ellipsis
])
def test_cut_text(text, limit, expected):
    cut = cut_text(text, limit)
    assert cut == expected
    assert len(cut.encode()) <= limit


def test_cut_text_never_exceeds_the_limit_whatever_the_mix():
    text = ("Ünïcödé 中文 " + FAMILY + FLAG + "\u0301") * 300
    for limit in range(20, 200, 7):
        cut = cut_text(text, limit)
        assert len(cut.encode()) <= limit and cut.endswith(ELLIPSIS)
        assert text.startswith(cut[:-1].rstrip())


# -- which event gets which reply -------------------------------------------------------

WELCOME = "replies:\n  text: WeChat_Auto_Reply__c\n  welcome: { text: Welcome }\n"


@pytest.mark.parametrize("text, push, expected", [
    (REPLIES, event("subscribe", f"qrscene_sfc_{CAMPAIGN}"),
     ReplyTarget(campaign=CAMPAIGN[:15])),
    (REPLIES, event("scan", f"sfc_{CAMPAIGN[:15]}"), ReplyTarget(campaign=CAMPAIGN[:15])),
    (REPLIES, event("scan", f"sfc_{CAMPAIGN}.store-042"), ReplyTarget(campaign=CAMPAIGN[:15])),
    (REPLIES, event("scan", "sfp_01t5g000000AbCd"), None),  # another kind of code
    (REPLIES, event("subscribe"), None),  # no welcome configured
    (REPLIES, event("unsubscribe"), None),
    (REPLIES, event("click", f"sfc_{CAMPAIGN}"), None),
    (WELCOME, event("subscribe"), ReplyTarget(welcome=True)),
    (WELCOME, event("subscribe", "qrscene_sfc_not-an-id"), ReplyTarget(welcome=True)),
    (WELCOME, event("subscribe", f"qrscene_sfc_{CAMPAIGN}"),
     ReplyTarget(campaign=CAMPAIGN[:15], welcome=True)),
    (WELCOME, event("scan", "sfc_not-an-id"), None),  # welcome is for follows
    (REPLIES + "  on: [subscribe]\n", event("scan", f"sfc_{CAMPAIGN}"), None),
    ("replies:\n  welcome: { text: Hi }\n", event("subscribe", f"qrscene_sfc_{CAMPAIGN}"),
     ReplyTarget(welcome=True)),  # no campaign fields: every follow is welcomed
])
def test_reply_target(text, push, expected):
    assert reply_target(push, mapping(text)) == expected


def test_a_scene_field_names_the_campaign_by_value():
    m = mapping(extra="campaigns:\n  resolve: { field: WeChat_Scene__c }\n")
    assert reply_target(event("scan", "sfc_SPRING.hall-2"), m) == ReplyTarget(
        scene_field="WeChat_Scene__c", scene_value="SPRING")


def test_an_accounts_own_prefix_is_used():
    m = mapping(extra=f"accounts:\n  {ACCOUNT}:\n    campaigns: {{ scene_prefix: 'b_' }}\n")
    assert reply_target(event("scan", f"b_{CAMPAIGN}"), m) == ReplyTarget(campaign=CAMPAIGN[:15])
    assert reply_target(event("scan", f"sfc_{CAMPAIGN}"), m) is None


def test_welcome_reply_is_built_from_the_constants():
    article = mapping("replies:\n  welcome:\n    article: { title: Hello, "
                      "url: 'https://example.com/w' }\n").replies
    assert welcome_reply(article) == Reply(article=Article("Hello", "", "",
                                                           "https://example.com/w"))
    assert welcome_reply(mapping(WELCOME).replies) == Reply(text="Welcome")
    assert welcome_reply(SECTION) is None


# -- the reply as JSON, as a customer-service message, as XML ----------------------------

ARTICLE = Reply(article=Article("Spring <sale> & more", "Up to ]]> 50%",
                                "https://example.com/p.jpg", "https://example.com/s?a=1&b=2"))


@pytest.mark.parametrize("reply", [Reply(text="Hi 你好 ]]> <b>&"), ARTICLE])
def test_json_round_trip(reply):
    assert Reply.from_json(reply.to_json()) == reply


@pytest.mark.parametrize("raw", ["", "{}", "[1]", '{"article": {"nope": 1}}'])
def test_a_corrupt_cached_value_is_a_value_error(raw):
    with pytest.raises(ValueError, match="not a cached reply"):
        Reply.from_json(raw)


def test_a_reply_is_a_text_or_an_article():
    with pytest.raises(ValueError):
        Reply()
    with pytest.raises(ValueError):
        Reply(text="a", article=Article("t"))


def test_custom_message_bodies():
    assert Reply(text="Hi").custom_message() == {"msgtype": "text", "text": {"content": "Hi"}}
    assert ARTICLE.custom_message() == {"msgtype": "news", "news": {"articles": [{
        "title": "Spring <sale> & more", "description": "Up to ]]> 50%",
        "url": "https://example.com/s?a=1&b=2", "picurl": "https://example.com/p.jpg"}]}}


READER = ReplyReader(token="t", app_id="wx0", original_id=ACCOUNT, mode="plain", key=None)


def test_a_text_reply_renders_and_reads_back_exactly():
    text = "Thanks! 谢谢 ]]> <not a tag> & " + FAMILY
    xml = render_reply(Reply(text=text), openid=OPENID, account=ACCOUNT, at=1_700_000_123)
    READER.read(xml, openid=OPENID)  # what WeChat checks: addressed, typed, within limits
    parsed = parse_reply(xml)
    assert (parsed.msg_type, parsed.content) == ("text", text)
    assert (parsed.to_user, parsed.from_user, parsed.create_time) == (
        OPENID, ACCOUNT, 1_700_000_123)


def test_an_article_reply_renders_and_reads_back_exactly():
    xml = render_reply(ARTICLE, openid=OPENID, account=ACCOUNT, at=1_700_000_123)
    READER.read(xml, openid=OPENID)
    parsed = parse_reply(xml)
    assert parsed.msg_type == "news" and parsed.content is None
    assert parsed.articles == ({"title": "Spring <sale> & more",
                                "description": "Up to ]]> 50%",
                                "picurl": "https://example.com/p.jpg",
                                "url": "https://example.com/s?a=1&b=2"},)


def test_the_sandbox_refuses_what_wechat_would_not_show():
    long = render_reply(Reply(text="x" * 2049), openid=OPENID, account=ACCOUNT, at=1)
    with pytest.raises(ReplyError, match="2049 bytes"):
        READER.read(long, openid=OPENID)
    wrong_count = render_reply(ARTICLE, openid=OPENID, account=ACCOUNT, at=1).replace(
        "<ArticleCount>1<", "<ArticleCount>2<")
    with pytest.raises(ReplyError, match="ArticleCount"):
        READER.read(wrong_count, openid=OPENID)


def test_the_org_check_names_a_reply_field_the_org_lacks():
    org = SalesforceSandbox(client_id="3MVG9replies", username="replies@bridge.sandbox",
                            public_key_pem="unused: describe needs no login")
    text = BASE + ("replies:\n  text: WeChat_Auto_Reply__c\n"
                   "  article: { title: WeChat_Reply_Titel__c }\n")
    problems = check_against_org(parse_mapping(text, Path("m.yaml")), text, "m.yaml",
                                 org.describe)
    ours = [str(p) for p in problems if "replies" in p.text]
    assert ours == ["m.yaml:7:21: error: replies.article.title: unknown field "
                    "'WeChat_Reply_Titel__c' on Campaign — did you mean "
                    "'WeChat_Reply_Title__c'? — see Setup › Object Manager › Campaign › "
                    "Fields & Relationships"]
