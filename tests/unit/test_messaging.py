"""Messages from Salesforce, decided without I/O: requests, screening, skips and their
reasons, how sends are cut and keyed, recipient rows and WeChat's job-finish reports."""

from __future__ import annotations

import pytest

from connector.errors import FatalError, RetriableError, SkippableError
from connector.events import InboundEvent
from connector.messaging.records import read_finish, recipient_row, request_counts, tally
from connector.messaging.rules import (
    MessageRequest,
    Outcome,
    Recipient,
    RequestError,
    error_outcome,
    mass_batches,
    mass_client_msg_id,
    quota_skips,
    screen,
    template_client_msg_id,
    window_skip,
)
from connector.messaging.windows import Spent
from mappings.messages_section import MessagesSection, RecipientFields, RequestFields

FIELDS = RequestFields()
MESSAGE_ID = "a0D5g00000AbCdEFGH"


def record(**values) -> dict:
    return {"Id": MESSAGE_ID, **values}


# -- requests ---------------------------------------------------------------------------

def test_a_template_request_reads_its_data_as_the_apis_shape():
    request = MessageRequest.from_record(record(
        Channel__c="template", Target__c="campaign", Campaign__c="7015g00000AbCdE",
        Template_Id__c=" TPL ", Data__c='{"first": "Hi", "k1": {"value": 42, "color": "#f00",'
                                        ' "extra": 1}, "k2": null}'), FIELDS)
    assert (request.channel, request.target, request.campaign_id, request.template_id) == (
        "template", "campaign", "7015g00000AbCdE", "TPL")
    assert request.data == {"first": {"value": "Hi"}, "k1": {"value": "42", "color": "#f00"},
                            "k2": {"value": ""}}


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"Channel__c": "sms", "Target__c": "tag", "Tag__c": "x"}, "Channel__c",
     "choose one of template, customer_service, mass"),
    ({"Channel__c": "mass", "Target__c": None, "Content__c": "x"}, "Target__c",
     "choose one of follower, campaign, tag"),
    ({"Channel__c": "mass", "Target__c": "campaign", "Content__c": "x"}, "Campaign__c",
     "Target__c is campaign but Campaign__c is blank"),
    ({"Channel__c": "template", "Target__c": "tag", "Tag__c": "VIP"}, "Template_Id__c",
     "needs Template_Id__c"),
    ({"Channel__c": "template", "Target__c": "tag", "Tag__c": "VIP", "Template_Id__c": "T",
      "Data__c": "[1, 2]"}, "Data__c", "must be a JSON object"),
    ({"Channel__c": "template", "Target__c": "tag", "Tag__c": "VIP", "Template_Id__c": "T",
      "Data__c": "{first: 1}"}, "Data__c", "is not valid JSON"),
    ({"Channel__c": "template", "Target__c": "tag", "Tag__c": "VIP", "Template_Id__c": "T",
      "Data__c": '{"first": {"color": "#000"}}'}, "Data__c", 'first needs a "value"'),
    ({"Channel__c": "customer_service", "Target__c": "follower", "Follower__c": "a0B1",
      "Content__c": "  "}, "Content__c", "needs its text in Content__c"),
    ({"Channel__c": "mass", "Target__c": "tag", "Tag__c": "VIP"}, "Content__c",
     "or an article's media_id in Media_Id__c"),
])
def test_a_request_that_cannot_be_sent_names_the_field_and_the_fix(values, field, words):
    with pytest.raises(RequestError) as refused:
        MessageRequest.from_record(record(**values), FIELDS)
    assert refused.value.fields == [field] and words in refused.value.message
    assert isinstance(refused.value, FatalError)


def test_message_bodies():
    text = MessageRequest(MESSAGE_ID, "customer_service", "tag", tag="x", content="Hi")
    news = MessageRequest(MESSAGE_ID, "mass", "tag", tag="x", media_id="MEDIA")
    assert text.body() == {"msgtype": "text", "text": {"content": "Hi"}}
    assert news.body() == {"msgtype": "mpnews", "mpnews": {"media_id": "MEDIA"},
                           "send_ignore_reprint": 0}


# -- deciding ---------------------------------------------------------------------------

def test_screen_decides_what_needs_no_wechat_call():
    fan = Recipient("o1", follower_id="a0B1", contact_id="0031")
    twin = Recipient("o1", follower_id="a0B1", lead_id="00Q1")  # the same follower again
    nobody = Recipient(None, contact_id="0032")
    gone = Recipient("o2", subscribed=False, contact_id="0033")
    earlier = Recipient("o3", contact_id="0034")
    unknown = Recipient("o4", subscribed=None)
    tried, decided = screen([fan, twin, nobody, gone, earlier, unknown], done={"o3"})
    assert tried == [fan, unknown]
    assert [(o.recipient, o.status, o.reason.split(":")[0]) for o in decided] == [
        (twin, "skipped", "duplicate"), (nobody, "skipped", "no follower"),
        (gone, "skipped", "unfollowed")]


def test_quota_and_window_skips_say_why():
    people = [Recipient("o1"), Recipient("o2")]
    [skip] = quota_skips(people, ["o2"], "4 mass messages a month (service account)")
    assert (skip.recipient.openid, skip.reason) == (
        "o2", "quota: 4 mass messages a month (service account) already received")
    closed = window_skip(people[0], Spent(None, reason="no open window: ..."))
    used = window_skip(people[0], Spent(None, reason="the follower's open window has no "
                                                      "messages left (3 within 1 minute)"))
    assert closed.reason.startswith("window closed: no open window")
    assert used.reason.startswith("window used up: the follower's open window")


@pytest.mark.parametrize(("error", "status", "start"), [
    (SkippableError("require subscribe", system="wechat", code="43004"), "skipped",
     "unfollowed: WeChat 43004"),
    (SkippableError("out of time", system="wechat", code="45015"), "skipped",
     "window closed: WeChat 45015"),
    (SkippableError("count", system="wechat", code="45047"), "skipped",
     "window used up: WeChat 45047"),
    (SkippableError("invalid openid", system="wechat", code="40003"), "skipped",
     "wechat: WeChat 40003"),
    (FatalError("invalid template_id", system="wechat", code="40037"), "failed",
     "wechat: WeChat 40037: invalid template_id"),
])
def test_wechat_refusals_become_skips_or_failures(error, status, start):
    outcome = error_outcome(Recipient("o1"), error)
    assert outcome.status == status and outcome.reason.startswith(start)


def test_reasons_fit_the_field():
    outcome = error_outcome(Recipient("o1"), RetriableError("x" * 400))
    assert len(outcome.reason) == 255 and outcome.reason.endswith("…")


@pytest.mark.parametrize(("total", "sizes"), [
    (0, []), (1, [1]), (2, [2]), (10_000, [10_000]), (10_001, [5_001, 5_000]),
    (25_000, [8_334, 8_333, 8_333]),
])
def test_mass_batches_are_even_and_never_one_follower(total, sizes):
    openids = [f"o{i}" for i in range(total)]
    batches = mass_batches(openids)
    assert [len(b) for b in batches] == sizes
    assert [o for b in batches for o in b] == openids


def test_send_keys():
    one = mass_client_msg_id(MESSAGE_ID, ["o2", "o1"])
    assert one == mass_client_msg_id(MESSAGE_ID, ["o1", "o2"])  # order does not matter
    assert one != mass_client_msg_id(MESSAGE_ID, ["o1", "o3"])
    assert one.startswith(MESSAGE_ID + "-") and len(one.encode()) <= 64
    assert template_client_msg_id(MESSAGE_ID, "o1") == f"{MESSAGE_ID}:o1"


# -- recording --------------------------------------------------------------------------

def test_recipient_rows_write_what_is_known():
    fields = RecipientFields()
    sent = Outcome(Recipient("o1", follower_id="a0B1", contact_id="0031"), "sent",
                   msg_id="200228332", sent_at=1_710_000_000)
    row = recipient_row(MESSAGE_ID, sent, fields)
    assert row == {"Key__c": f"{MESSAGE_ID}:o1", "Message__c": MESSAGE_ID,
                   "Status__c": "sent", "Reason__c": None, "OpenId__c": "o1",
                   "Follower__c": "a0B1", "Contact__c": "0031",
                   "WeChat_Msg_Id__c": "200228332", "Sent_At__c": "2024-03-09T16:00:00Z"}
    nobody = recipient_row(MESSAGE_ID, Outcome(Recipient(None, lead_id="00Q1"), "skipped",
                                               "no follower"), fields)
    assert (nobody["Key__c"], nobody["Lead__c"]) == (f"{MESSAGE_ID}:00Q1", "00Q1")
    assert "OpenId__c" not in nobody


def test_counts_count_delivered_as_sent():
    counts = tally(["sent", "delivered", "skipped", "skipped", "failed"])
    assert request_counts(counts, FIELDS) == {"Sent__c": 2, "Skipped__c": 2, "Failed__c": 1}
    assert dict(tally(["skipped"])) == {"skipped": 1}


def finish(event: str, **fields) -> InboundEvent:
    push = {"ToUserName": "gh_0123456789ab", "FromUserName": "o1", "CreateTime": "1",
            "MsgType": "event", "Event": event}
    return InboundEvent.from_fields({**push, **{k: str(v) for k, v in fields.items()}})


@pytest.mark.parametrize(("event", "status", "delivered", "reason"), [
    (finish("TEMPLATESENDJOBFINISH", MsgID=200163836, Status="success"), "delivered", 1,
     None),
    (finish("TEMPLATESENDJOBFINISH", MsgID=200163840, Status="failed: system failed"),
     "failed", 0, "wechat: WeChat could not deliver it (system failed)"),
    (finish("TEMPLATESENDJOBFINISH", MsgID=1, Status="failed:user block"), "failed", 0,
     "wechat: WeChat could not deliver it (user block)"),
    (finish("MASSSENDJOBFINISH", MsgID=7, Status="send success", TotalCount=400,
            FilterCount=400, SentCount=400, ErrorCount=0), "delivered", 400, None),
    (finish("MASSSENDJOBFINISH", MsgID=7, Status="send success", TotalCount=400,
            FilterCount=380, SentCount=380, ErrorCount=0), None, 380, None),
    (finish("MASSSENDJOBFINISH", MsgID=1000001625, Status="err(30003)", TotalCount=0,
            FilterCount=0, SentCount=0, ErrorCount=0), "failed", 0,
     "wechat: WeChat's mass job ended with err(30003)"),
])
def test_job_finish_reports(event, status, delivered, reason):
    report = read_finish(event)
    assert (report.status, report.delivered, report.reason) == (status, delivered, reason)
    assert report.msg_id == event.msg_id and report.account == "gh_0123456789ab"


def test_other_events_are_not_reports():
    assert read_finish(finish("subscribe")) is None
    assert read_finish(finish("TEMPLATESENDJOBFINISH", Status="success")) is None  # no id


# -- the mapping section ----------------------------------------------------------------

def test_the_section_defaults_are_the_shipped_metadata_and_refuse_shared_fields():
    section = MessagesSection()
    assert (section.request.object, section.recipient.key) == ("WeChat_Message__c", "Key__c")
    with pytest.raises(ValueError, match="request.content and request.data both name X__c"):
        MessagesSection.model_validate({"request": {"content": "X__c", "data": "X__c"}})
    uses = {(u.field, u.use, u.rule.value if u.rule else None) for u in section.field_uses()}
    assert ("Key__c", "key", None) in uses
    assert {("Channel__c", "write", c) for c in ("template", "customer_service", "mass")} <= uses
    assert ("Subscribed__c", "read", None) in uses


@pytest.mark.parametrize(("fields", "message"), [
    ({"Content__c": "hi", "Image_Url__c": "https://example.com/a.png"},
     "Content__c.*Image_Url__c.*not both"),
    ({"Channel__c": "mass", "Content__c": "hi", "Image_Url__c": "https://example.com/a.png"},
     "Image_Url__c is for customer-service messages only"),
    ({}, "needs its text in Content__c or an image's https link in Image_Url__c"),
])
def test_an_image_request_is_checked_naming_the_fields(fields, message):
    record = {"Id": "a0E000000000001AAA", "Channel__c": "customer_service",
              "Target__c": "follower", "Follower__c": "a0B000000000001AAA", **fields}
    with pytest.raises(RequestError, match=message):
        MessageRequest.from_record(record, FIELDS)


def test_an_image_request_sends_an_image_body():
    record = {"Id": "a0E000000000001AAA", "Channel__c": "customer_service",
              "Target__c": "follower", "Follower__c": "a0B000000000001AAA",
              "Image_Url__c": " https://example.com/a.png "}
    request = MessageRequest.from_record(record, FIELDS)
    assert request.image_url == "https://example.com/a.png"
    assert request.body("MEDIA_1") == {"msgtype": "image", "image": {"media_id": "MEDIA_1"}}
