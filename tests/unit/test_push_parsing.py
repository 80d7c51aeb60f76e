"""connector.wechat.pushes: every reference push parses; hostile XML is refused.

Bodies V6.x (wechatpy 1.8.18 fixtures), V7 (wechatpy#389) and V8 (WeRoBot) are copied
byte-exact from shared/reference/wechat_vectors.md, with the attributes wechatpy 1.8.18's
typed message is documented to have.
"""
# ruff: noqa: E501  (reference bodies are kept on one line, byte-exact)

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from connector.events import InboundEvent
from connector.messaging.records import read_finish
from connector.wechat.pushes import MAX_DEPTH, MalformedPushError, parse_fields, parse_push


class Case(NamedTuple):
    id: str
    cls: str
    attrs: dict[str, Any]
    xml: str


CASES = [
    Case('V6.1', 'TextMessage', {'type': 'text', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'content': 'this is a test'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n         <CreateTime>1348831860</CreateTime>\n        <MsgType><![CDATA[text]]></MsgType>\n        <Content><![CDATA[this is a test]]></Content>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.2', 'ImageMessage', {'type': 'image', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'image': 'this is a url', 'media_id': 'media_id'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1348831860</CreateTime>\n        <MsgType><![CDATA[image]]></MsgType>\n        <PicUrl><![CDATA[this is a url]]></PicUrl>\n        <MediaId><![CDATA[media_id]]></MediaId>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.3', 'VoiceMessage', {'type': 'voice', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'media_id': 'media_id', 'format': 'Format'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1357290913</CreateTime>\n        <MsgType><![CDATA[voice]]></MsgType>\n        <MediaId><![CDATA[media_id]]></MediaId>\n        <Format><![CDATA[Format]]></Format>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.4', 'VideoMessage', {'type': 'video', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'media_id': 'media_id', 'thumb_media_id': 'thumb_media_id'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1357290913</CreateTime>\n        <MsgType><![CDATA[video]]></MsgType>\n        <MediaId><![CDATA[media_id]]></MediaId>\n        <ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.5', 'LocationMessage', {'type': 'location', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'location': ('23.134521', '113.358803'), 'scale': '20', 'label': '位置信息'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1351776360</CreateTime>\n        <MsgType><![CDATA[location]]></MsgType>\n        <Location_X>23.134521</Location_X>\n        <Location_Y>113.358803</Location_Y>\n        <Scale>20</Scale>\n        <Label><![CDATA[位置信息]]></Label>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.6', 'LinkMessage', {'type': 'link', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser', 'url': 'url', 'title': '公众平台官网链接', 'description': '公众平台官网链接'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1351776360</CreateTime>\n        <MsgType><![CDATA[link]]></MsgType>\n        <Title><![CDATA[公众平台官网链接]]></Title>\n        <Description><![CDATA[公众平台官网链接]]></Description>\n        <Url><![CDATA[url]]></Url>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V6.7', 'SubscribeEvent', {'type': 'event', 'event': 'subscribe', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'key': ''},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe]]></Event>\n        </xml>'),
    Case('V6.8', 'UnsubscribeEvent', {'type': 'event', 'event': 'unsubscribe', 'id': 0, 'source': 'FromUser', 'target': 'toUser'},
         '\n        <xml>\n            <ToUserName><![CDATA[toUser]]></ToUserName>\n            <FromUserName><![CDATA[FromUser]]></FromUserName>\n            <CreateTime>123456789</CreateTime>\n            <MsgType><![CDATA[event]]></MsgType>\n            <Event><![CDATA[unsubscribe]]></Event>\n        </xml>\n        '),
    Case('V6.9', 'SubscribeScanEvent', {'type': 'event', 'event': 'subscribe_scan', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'scene_id': '123123', 'ticket': 'TICKET'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe]]></Event>\n        <EventKey><![CDATA[qrscene_123123]]></EventKey>\n        <Ticket><![CDATA[TICKET]]></Ticket>\n        </xml>'),
    Case('V6.10', 'ScanEvent', {'type': 'event', 'event': 'scan', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'scene_id': '123123', 'ticket': 'TICKET'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[SCAN]]></Event>\n        <EventKey><![CDATA[123123]]></EventKey>\n        <Ticket><![CDATA[TICKET]]></Ticket>\n        </xml>'),
    Case('V6.11', 'ScanEvent', {'type': 'event', 'event': 'scan', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'scene_id': 'SCENE_VALUE', 'ticket': 'TICKET'},
         '\n        <xml>\n            <ToUserName><![CDATA[toUser]]></ToUserName>\n            <FromUserName><![CDATA[FromUser]]></FromUserName>\n            <CreateTime>123456789</CreateTime>\n            <MsgType><![CDATA[event]]></MsgType>\n            <Event><![CDATA[SCAN]]></Event>\n            <EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n            <Ticket><![CDATA[TICKET]]></Ticket>\n        </xml>\n        '),
    Case('V6.12', 'SubscribeEvent', {'type': 'event', 'event': 'subscribe', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'key': 'last_trade_no_4008072001201701105817415015'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe]]></Event>\n        <EventKey><![CDATA[last_trade_no_4008072001201701105817415015]]></EventKey>\n        </xml>'),
    Case('V6.13', 'LocationEvent', {'type': 'event', 'event': 'location', 'id': 0, 'source': 'fromUser', 'target': 'toUser', 'latitude': 23.137466, 'longitude': 113.352425, 'precision': 119.38504},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[LOCATION]]></Event>\n        <Latitude>23.137466</Latitude>\n        <Longitude>113.352425</Longitude>\n        <Precision>119.385040</Precision>\n        </xml>'),
    Case('V6.14', 'ClickEvent', {'type': 'event', 'event': 'click', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'key': 'EVENTKEY'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[CLICK]]></Event>\n        <EventKey><![CDATA[EVENTKEY]]></EventKey>\n        </xml>'),
    Case('V6.15', 'ViewEvent', {'type': 'event', 'event': 'view', 'id': 0, 'source': 'FromUser', 'target': 'toUser', 'url': 'www.qq.com'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[FromUser]]></FromUserName>\n        <CreateTime>123456789</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[VIEW]]></Event>\n        <EventKey><![CDATA[www.qq.com]]></EventKey>\n        </xml>'),
    Case('V6.16', 'ScanCodePushEvent', {'type': 'event', 'event': 'scancode_push', 'id': 0, 'source': 'oMgHVjngRipVsoxg6TuX3vz6glDg', 'target': 'gh_e136c6e50636', 'key': '6', 'scan_type': 'qrcode', 'scan_result': '1'},
         '<xml>\n        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n        <CreateTime>1408090502</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[scancode_push]]></Event>\n        <EventKey><![CDATA[6]]></EventKey>\n        <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n        <ScanResult><![CDATA[1]]></ScanResult>\n        </ScanCodeInfo>\n        </xml>'),
    Case('V6.17', 'ScanCodeWaitMsgEvent', {'type': 'event', 'event': 'scancode_waitmsg', 'id': 0, 'source': 'oMgHVjngRipVsoxg6TuX3vz6glDg', 'target': 'gh_e136c6e50636', 'key': '6', 'scan_type': 'qrcode', 'scan_result': '2'},
         '<xml>\n        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n        <CreateTime>1408090606</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[scancode_waitmsg]]></Event>\n        <EventKey><![CDATA[6]]></EventKey>\n        <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n        <ScanResult><![CDATA[2]]></ScanResult>\n        </ScanCodeInfo>\n        </xml>'),
    Case('V6.18', 'LocationSelectEvent', {'type': 'event', 'event': 'location_select', 'id': 0, 'source': 'oMgHVjngRipVsoxg6TuX3vz6glDg', 'target': 'gh_e136c6e50636', 'key': '6', 'location': ('23', '113'), 'scale': '15', 'label': '广州市海珠区客村艺苑路 106号'},
         '<xml>\n        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n        <CreateTime>1408091189</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[location_select]]></Event>\n        <EventKey><![CDATA[6]]></EventKey>\n        <SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n        <Location_Y><![CDATA[113]]></Location_Y>\n        <Scale><![CDATA[15]]></Scale>\n        <Label><![CDATA[广州市海珠区客村艺苑路 106号]]></Label>\n        <Poiname><![CDATA[]]></Poiname>\n        </SendLocationInfo>\n        </xml>'),
    Case('V6.19', 'TemplateSendJobFinishEvent', {'type': 'event', 'event': 'templatesendjobfinish', 'id': 200163836, 'source': 'fromuser', 'target': 'touser', 'status': 'success'},
         '<xml>\n        <ToUserName><![CDATA[touser]]></ToUserName>\n        <FromUserName><![CDATA[fromuser]]></FromUserName>\n        <CreateTime>1395658920</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n        <MsgID>200163836</MsgID>\n        <Status><![CDATA[success]]></Status>\n        </xml>'),
    Case('V6.20', 'MassSendJobFinishEvent', {'type': 'event', 'event': 'masssendjobfinish', 'id': 1000001625, 'source': 'oV5CrjpxgaGXNHIQigzNlgLTnwic', 'target': 'gh_4d00ed8d6399', 'status': 'err(30003)', 'total_count': 0, 'filter_count': 0, 'sent_count': 0, 'error_count': 0},
         '\n        <xml>\n            <ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>\n            <FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>\n            <CreateTime>1481013459</CreateTime>\n            <MsgType><![CDATA[event]]></MsgType>\n            <Event><![CDATA[MASSSENDJOBFINISH]]></Event>\n            <MsgID>1000001625</MsgID>\n            <Status><![CDATA[err(30003)]]></Status>\n            <TotalCount>0</TotalCount>\n            <FilterCount>0</FilterCount>\n            <SentCount>0</SentCount>\n            <ErrorCount>0</ErrorCount>\n            <CopyrightCheckResult>\n                <Count>2</Count>\n                <ResultList>\n                    <item>\n                        <ArticleIdx>1</ArticleIdx>\n                        <UserDeclareState>0</UserDeclareState>\n                        <AuditState>2</AuditState>\n                        <OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>\n                        <OriginalArticleType>1</OriginalArticleType>\n                        <CanReprint>1</CanReprint>\n                        <NeedReplaceContent>1</NeedReplaceContent>\n                        <NeedShowReprintSource>1</NeedShowReprintSource>\n                    </item>\n                    <item>\n                        <ArticleIdx>2</ArticleIdx>\n                        <UserDeclareState>0</UserDeclareState>\n                        <AuditState>2</AuditState>\n                        <OriginalArticleUrl><![CDATA[Url_2]]></OriginalArticleUrl>\n                        <OriginalArticleType>1</OriginalArticleType>\n                        <CanReprint>1</CanReprint>\n                        <NeedReplaceContent>1</NeedReplaceContent>\n                        <NeedShowReprintSource>1</NeedShowReprintSource>\n                    </item>\n                </ResultList>\n                <CheckState>2</CheckState>\n            </CopyrightCheckResult>\n            <ArticleUrlResult>\n                <Count>1</Count>\n                <ResultList>\n                    <item>\n                        <ArticleIdx>1</ArticleIdx>\n                        <ArticleUrl><![CDATA[Url]]></ArticleUrl>\n                    </item>\n               </ResultList>\n            </ArticleUrlResult>\n        </xml>\n        '),
    Case('V6.21', 'UnknownMessage', {'type': 'unknown', 'id': 0, 'source': 'otFpruAK8D-E6EfStSYonYSBZ8_4', 'target': 'gh_123456789abc'},
         '<xml>\n        <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n        <CreateTime>1610969440</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[subscribe_msg_popup_event]]></Event>\n        <SubscribeMsgPopupEvent>\n            <List>\n                <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n                <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n                <PopupScene>2</PopupScene>\n            </List>\n            <List>\n                <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\n                <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n                <PopupScene>2</PopupScene>\n            </List>\n        </SubscribeMsgPopupEvent>\n        </xml>'),
    Case('V6.22', 'UnknownMessage', {'type': 'unknown', 'id': 1234567890123456, 'source': 'fromUser', 'target': 'toUser'},
         '<xml>\n        <ToUserName><![CDATA[toUser]]></ToUserName>\n        <FromUserName><![CDATA[fromUser]]></FromUserName>\n        <CreateTime>1348831860</CreateTime>\n        <MsgType><![CDATA[notsure]]></MsgType>\n        <MsgId>1234567890123456</MsgId>\n        </xml>'),
    Case('V7', 'ViewMiniProgramEvent', {'page_path': 'pages/index', 'menu_id': '411998734', 'source': 'xxxxxxxxx'},
         '<xml><ToUserName><![CDATA[gh_XXXXX]]></ToUserName>\n<FromUserName><![CDATA[xxxxxxxxx]]></FromUserName>\n<CreateTime>1538912187</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[view_miniprogram]]></Event>\n<EventKey><![CDATA[pages/index]]></EventKey>\n<MenuId>411998734</MenuId>\n</xml>'),
    Case('V8-1', 'TemplateSendJobFinishEvent', {'id': 200163836, 'status': 'success', 'source': 'oia2TjuEGTNoeX76QEjQNrcURxG8'},
         '\n    <xml>\n        <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n        <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n        <CreateTime>1395658920</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n        <MsgID>200163836</MsgID>\n        <Status><![CDATA[success]]></Status>\n    </xml>\n    '),
    Case('V8-2', 'TemplateSendJobFinishEvent', {'id': 200163840, 'status': 'failed: system failed', 'source': 'oia2TjuEGTNoeX76QEjQNrcURxG8'},
         '\n    <xml>\n        <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n        <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n        <CreateTime>1395658984</CreateTime>\n        <MsgType><![CDATA[event]]></MsgType>\n        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n        <MsgID>200163840</MsgID>\n        <Status><![CDATA[failed: system failed]]></Status>\n    </xml>\n    '),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_reference_push_parses_to_its_type_and_fields(case):
    fields, message = parse_push(case.xml)
    assert type(message).__name__ == case.cls
    for name, expected in case.attrs.items():
        assert getattr(message, name) == expected, name
    # The flattened fields agree with wechatpy's view of the same body.
    assert fields["ToUserName"] == message.target
    assert fields["FromUserName"] == message.source
    assert int(fields["CreateTime"]) == message.time
    assert fields["MsgType"] == message._data["MsgType"]
    # ...and are enough to build the event the queue carries.
    event = InboundEvent.from_fields(fields)
    assert (event.account, event.openid) == (message.target, message.source)


def by_id(case_id: str) -> str:
    return next(c.xml for c in CASES if c.id == case_id)


@pytest.mark.parametrize(
    ("case_id", "expected"),
    [
        ("V6.9", {"Event": "subscribe", "EventKey": "qrscene_123123", "Ticket": "TICKET"}),
        ("V6.5", {"Location_X": "23.134521", "Label": "位置信息", "MsgId": "1234567890123456"}),
        ("V6.16", {"ScanCodeInfo.ScanType": "qrcode", "ScanCodeInfo.ScanResult": "1"}),
        ("V6.18", {"SendLocationInfo.Label": "广州市海珠区客村艺苑路 106号",
                   "SendLocationInfo.Poiname": ""}),
        ("V6.19", {"MsgID": "200163836", "Status": "success"}),
        ("V6.20", {"CopyrightCheckResult.ResultList.item.1.OriginalArticleUrl": "Url_2",
                   "ArticleUrlResult.ResultList.item.ArticleUrl": "Url"}),
        ("V6.21", {"SubscribeMsgPopupEvent.List.0.SubscribeStatusString": "accept",
                   "SubscribeMsgPopupEvent.List.1.TemplateId":
                       "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI"}),
        ("V7", {"Event": "view_miniprogram", "EventKey": "pages/index", "MenuId": "411998734"}),
        ("V8-2", {"Status": "failed: system failed"}),
    ],
)
def test_fields_are_flattened_text(case_id, expected):
    fields = parse_fields(by_id(case_id))
    for name, value in expected.items():
        assert fields[name] == value, name
    assert all(isinstance(v, str) for v in fields.values())


def test_scan_and_subscribe_events_carry_the_scene():
    assert InboundEvent.from_fields(parse_push(by_id("V6.9"))[0]).scene == "123123"
    assert InboundEvent.from_fields(parse_push(by_id("V6.11"))[0]).scene == "SCENE_VALUE"


def test_safe_mode_envelope_parses_to_its_fields():
    envelope = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[+qdx1OKC==]]></Encrypt></xml>"
    assert parse_fields(envelope) == {"ToUserName": "gh_97417a04a28d", "Encrypt": "+qdx1OKC=="}


TEXT = by_id("V6.1")
XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>toUser</ToUserName><FromUserName>fromUser</FromUserName><CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>toUser</ToUserName><FromUserName>fromUser</FromUserName><CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""
HOSTILE = {
    "xxe-file": XXE,
    "billion-laughs": BILLION_LAUGHS,
    "doctype-only": "<!DOCTYPE xml>" + TEXT,
    "external-dtd": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">' + TEXT,
    "parameter-entity": '<!DOCTYPE xml [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + TEXT,
    "undefined-entity": TEXT.replace("<![CDATA[this is a test]]>", "&undefined;"),
    "non-xml": "hello, this is not XML",
    "json": '{"ToUserName": "gh_97417a04a28d", "MsgType": "event"}',
    "empty": "",
    "truncated": TEXT[: len(TEXT) // 2],
    "wrong-root": TEXT.replace("<xml>", "<html>").replace("</xml>", "</html>"),
    "two-roots": TEXT + TEXT,
    "repeated-field": TEXT.replace("</xml>", "<ToUserName>gh_other</ToUserName></xml>"),
    "too-deep": TEXT.replace("</xml>", "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1) + "</xml>"),
    "hugely-deep": TEXT.replace("</xml>", "<a>" * 20000 + "</a>" * 20000 + "</xml>"),
}


@pytest.mark.parametrize("body", [pytest.param(v, id=k) for k, v in HOSTILE.items()])
def test_hostile_or_broken_xml_is_refused(body):
    with pytest.raises(MalformedPushError):
        parse_fields(body)
    with pytest.raises(MalformedPushError):
        parse_push(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(TEXT.replace("<MsgType><![CDATA[text]]></MsgType>", ""), id="no-msgtype"),
        pytest.param(TEXT.replace("<![CDATA[text]]>", "<a>1</a><b>2</b>"), id="msgtype-not-text"),
    ],
)
def test_pushes_wechatpy_cannot_type_are_refused(body):
    parse_fields(body)  # well-formed XML...
    with pytest.raises(MalformedPushError):
        parse_push(body)  # ...but not a push



def test_two_template_reports_for_one_follower_are_two_events():
    """MsgID 0 has been seen on TEMPLATESENDJOBFINISH (with client_msg_id); a second
    report for the same follower in the same second differs by its Status."""
    def report(status: str) -> InboundEvent:
        return InboundEvent.from_fields({
            "ToUserName": "gh_7f083739789a", "FromUserName": "oia2TjuEGTNoeX76QEjQNrcURxG8",
            "CreateTime": "1395658920", "MsgType": "event",
            "Event": "TEMPLATESENDJOBFINISH", "MsgID": "0", "Status": status})

    ok, failed = report("success"), report("failed: system failed")
    assert ok.dedupe_key != failed.dedupe_key
    assert read_finish(ok).key != read_finish(failed).key
    assert report("success").dedupe_key == ok.dedupe_key  # WeChat's resend: the same
    assert read_finish(report("success")).key == read_finish(ok).key
