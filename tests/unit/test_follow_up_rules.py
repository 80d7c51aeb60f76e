"""Follow-up rules: the mapping's ``follow_ups:`` checked with file:line errors, which
events fire which rules, conditions and template data (pure), and the follow-ups' state
in a real Redis (created once, cancelled by an unfollow, scheduled once per event)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from rq.registry import ScheduledJobRegistry

from connector.events import InboundEvent
from connector.follower import Follower
from connector.followups import store
from connector.followups.rules import (
    FollowUp,
    blocking,
    follow_up_id,
    keyword_matches,
    template_data,
    triggered,
)
from connector.followups.schedule import after_batch
from jobs.queues import RqQueues, messages_queue
from mappings.follow_ups_section import FollowUpRule, Trigger, parse_delay
from mappings.loader import MappingError, parse_mapping

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text()
BASE = len(TEXT.splitlines())  # the section starts on the line after the shipped file
ACCOUNT, OPENID = "gh_0123456789ab", "oUser1"
CAMPAIGN = "7015g00000AbCdE"


def with_rules(rules: str) -> str:
    return TEXT + "follow_ups:\n" + rules


CLICK = """  - name: card
    trigger: { kind: click, key: CREDIT_CARD }
    delay: 10 minutes
    text: "Thanks!"
"""


def test_a_valid_section_loads():
    mapping = parse_mapping(with_rules(CLICK + """  - name: survey
    trigger: { kind: scan, campaign: 7015g00000AbCdE }
    delay: 2 hours
    template:
      id: TPL
      data: { first: Hello, keyword1: { person: LastName }, keyword2: { source: follower.remark } }
    unless: [{ object: Lead, field: IsConverted, equals: true }]
"""), Path("m.yaml"))
    card, survey = mapping.follow_ups
    assert (card.delay, card.trigger.key, survey.delay) == (600, "CREDIT_CARD", 7200)
    assert survey.template.data["first"].value == "Hello"
    assert survey.person_fields() == {"Lead": ["IsConverted", "LastName"],
                                      "Contact": ["LastName"]}


@pytest.mark.parametrize(("rules", "line", "needle"), [
    (CLICK.replace("kind: click", "kind: clik"), 2, "'click', 'keyword', 'scan'"),
    (CLICK.replace("{ kind: click, key: CREDIT_CARD }", "{ kind: click }"), 2,
     "a click trigger needs key"),
    (CLICK.replace("key: CREDIT_CARD", "key: K, campaign: X"), 2,
     "a click trigger takes no campaign"),
    (CLICK.replace("{ kind: click, key: CREDIT_CARD }", "{ kind: keyword }"), 2,
     "a keyword trigger needs text"),
    (CLICK.replace("key: CREDIT_CARD", "key: K, match: contains"), 2,
     "match applies to keyword triggers only"),
    (CLICK.replace("10 minutes", "49 hours"), 1, "48 hours at most"),
    (CLICK.replace("10 minutes", "5 parsecs"), 3, "'10 minutes' or '2 hours'"),
    (CLICK.replace("10 minutes", "0 seconds"), 1, "use 1 to 172800 seconds"),
    (CLICK.replace('    text: "Thanks!"\n', ""), 1, "sends nothing"),
    (CLICK.replace("name: card", "name: a card"), 1, "letters, digits, - and _"),
    (CLICK + CLICK, 1, "two follow-ups are named 'card'"),
    (CLICK + "    template: { id: T, data: { first: { source: event.content } } }\n", 5,
     "use a follower.* source"),
    (CLICK + "    template: { id: T, url: example.com }\n", 5, "is not a link"),
    (CLICK + "    unless: [{ object: Account, field: Type, equals: x }]\n", 5,
     "'Contact' or 'Lead'"),
])
def test_rule_errors_name_the_line_and_the_fix(rules, line, needle):
    with pytest.raises(MappingError) as caught:
        parse_mapping(with_rules(rules), Path("m.yaml"))
    problems = caught.value.problems
    assert any(p[0] == BASE + 1 + line and needle in p[2] for p in problems), problems


def test_a_condition_on_an_unlinked_person_is_refused_at_its_line():
    text = with_rules(CLICK + "    unless: [{ object: Lead, field: IsConverted, "
                      "equals: true }]\n").replace("    Lead: Lead__c\n", "", 1)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("m.yaml"))
    [(line, _, message)] = caught.value.problems
    assert line == BASE + 5 and "follower.link has no Lead lookup" in message


@pytest.mark.parametrize(("value", "seconds"), [
    (90, 90), ("90 seconds", 90), ("1 second", 1), ("10 min", 600), ("2 hours", 7200),
    ("3h", 10800), (" 5 M ", 300)])
def test_delays(value, seconds):
    assert parse_delay(value) == seconds


def event(kind: str, **fields) -> InboundEvent:
    base = {"ToUserName": ACCOUNT, "FromUserName": OPENID, "CreateTime": "1700000000"}
    if kind in ("text",):
        base.update(MsgType="text", MsgId="42", **fields)
    else:
        base.update(MsgType="event", Event=kind, **fields)
    return InboundEvent.from_fields(base)


def rule(name: str, **trigger) -> FollowUpRule:
    return FollowUpRule(name=name, trigger=Trigger(**trigger), delay=60, text="hi")


RULES = [rule("card", kind="click", key="CARD"),
         rule("price", kind="keyword", text="Price"),
         rule("deal", kind="keyword", text="deal", match="contains"),
         rule("spring", kind="scan", campaign=CAMPAIGN + "AAA"),  # 18-character Id
         rule("any-scan", kind="scan"),
         rule("welcome", kind="follow"),
         rule("spring-follow", kind="follow", campaign=CAMPAIGN)]


@pytest.mark.parametrize(("pushed", "fired"), [
    (event("CLICK", EventKey="CARD"), ["card"]),
    (event("CLICK", EventKey="OTHER"), []),
    (event("VIEW", EventKey="CARD"), []),
    (event("text", Content="  price "), ["price"]),
    (event("text", Content="what price?"), []),
    (event("text", Content="Any DEALS today?"), ["deal"]),
    (event("SCAN", EventKey=f"sfc_{CAMPAIGN}.store-042"), ["spring", "any-scan"]),
    (event("SCAN", EventKey="sfc_7015g00000ZzZzZ"), ["any-scan"]),
    (event("subscribe", EventKey=f"qrscene_sfc_{CAMPAIGN}"),
     ["spring", "any-scan", "welcome", "spring-follow"]),
    (event("subscribe"), ["welcome"]),
    (event("unsubscribe"), []),
])
def test_which_rules_an_event_fires(pushed, fired):
    assert [r.name for r in triggered(RULES, pushed, "sfc_")] == fired


def test_keyword_match_is_one_function():
    exact, contains = Trigger(kind="keyword", text="Hi"), Trigger(
        kind="keyword", text="hi", match="contains")
    assert keyword_matches(exact, " HI ") and not keyword_matches(exact, "hi there")
    assert keyword_matches(contains, "oh hi there") and not keyword_matches(contains, None)


def test_a_follow_up_is_one_per_rule_and_event_and_due_after_the_event():
    click = event("CLICK", EventKey="CARD")
    follow_up = FollowUp.of(RULES[0], click)
    assert follow_up.id == follow_up_id("card", click.dedupe_key) == FollowUp.of(
        RULES[0], event("CLICK", EventKey="CARD")).id
    assert follow_up.id != follow_up_id("price", click.dedupe_key)
    assert follow_up.due == 1700000000 + 60


def test_conditions_hold_on_the_persons_read():
    mapping = parse_mapping(with_rules(CLICK + """    unless:
      - { object: Lead, field: IsConverted, equals: true }
      - { object: Contact, field: WeChat_Customer_Tier__c, equals: Gold }
"""), Path("m.yaml"))
    conditions = mapping.follow_ups[0].unless
    assert blocking(conditions, {}) is None  # no person: nothing blocks
    assert blocking(conditions, {"Lead": {"IsConverted": False}}) is None
    assert blocking(conditions, {"Lead": {"IsConverted": True}}) is conditions[0]
    assert blocking(conditions, {"Contact": {"WeChat_Customer_Tier__c": "Gold"}}) \
        is conditions[1]
    assert blocking(conditions, {"Contact": {"WeChat_Customer_Tier__c": "gold"}}) is None


def test_template_data_from_values_the_profile_and_the_person():
    mapping = parse_mapping(with_rules(CLICK + """    template:
      id: TPL
      data:
        first: Hello
        keyword1: { person: LastName, color: "#173177" }
        keyword2: { source: follower.remark }
"""), Path("m.yaml"))
    template = mapping.follow_ups[0].template
    follower = Follower(openid=OPENID, subscribed=True, remark="VIP")
    assert template_data(template, follower, {"LastName": "Wang"}) == {
        "first": {"value": "Hello"}, "keyword1": {"value": "Wang", "color": "#173177"},
        "keyword2": {"value": "VIP"}}
    assert template_data(template, follower, None)["keyword1"] == {
        "value": "", "color": "#173177"}


# -- state in Redis -------------------------------------------------------------------


def test_a_follow_up_is_created_once_and_an_unfollow_cancels_only_earlier_ones(redis_conn):
    earlier = FollowUp.of(RULES[0], event("CLICK", EventKey="CARD"))
    later = FollowUp.of(RULES[0], event("CLICK", EventKey="CARD", CreateTime="1700000500"))
    now = 1700000001
    assert store.schedule(redis_conn, earlier, now) is None
    assert store.schedule(redis_conn, earlier, now) == "pending"
    assert store.schedule(redis_conn, later, now) is None
    assert store.cancel_pending(redis_conn, ACCOUNT, OPENID, 1700000100,
                                "unfollowed") == [earlier.id]
    assert store.read(redis_conn, earlier.id).status == "cancelled"
    assert store.schedule(redis_conn, earlier, now) == "cancelled"  # a replay: nothing
    assert not store.move(redis_conn, earlier.id, "pending", "sending")
    assert store.move(redis_conn, later.id, "pending", "sending")
    assert store.cancel_pending(redis_conn, ACCOUNT, OPENID, 1700009999, "x") == []
    assert [s.id for s in store.listing(redis_conn)] == [later.id, earlier.id]
    assert store.counts(redis_conn) == {"cancelled": 1, "sending": 1}


def test_a_batch_schedules_each_follow_up_once_and_cancels_on_unfollow(redis_conn):
    mapping = parse_mapping(with_rules(CLICK), Path("m.yaml"))
    ctx = SimpleNamespace(mapping=mapping, redis=redis_conn, queues=RqQueues(redis_conn))
    click = event("CLICK", EventKey="CREDIT_CARD")
    registry = ScheduledJobRegistry(queue=messages_queue(redis_conn))

    first = after_batch(ctx, [click], clock=lambda: 1700000010)
    again = after_batch(ctx, [click], clock=lambda: 1700000020)  # a retry or replay

    assert (first["scheduled"], again["scheduled"], again["seen"]) == (1, 0, 1)
    [job_id] = registry.get_job_ids()
    assert job_id == follow_up_id("card", click.dedupe_key)
    gone = after_batch(ctx, [event("unsubscribe", CreateTime="1700000030")])
    assert gone["cancelled"] == 1
    assert store.read(redis_conn, job_id).status == "cancelled"
    assert after_batch(ctx, [click])["scheduled"] == 0


def test_the_fields_rules_read_are_checked_against_the_org():
    from mappings.org_check import check_against_org
    from sandbox.salesforce import SalesforceSandbox

    org = SalesforceSandbox(client_id="3MVG9followups", username="fu@bridge.sandbox",
                            public_key_pem="unused: describe needs no login")
    text = with_rules(CLICK + """    template: { id: T, data: { k: { person: LastName } } }
    unless: [{ object: Lead, field: IsConvertd, equals: true }]
""")
    problems = check_against_org(parse_mapping(text, Path("m.yaml")), text, Path("m.yaml"),
                                 org.describe)
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 and "IsConvertd" in str(errors[0]), [str(p) for p in problems]
    assert f"m.yaml:{BASE + 1 + 6}:" in str(errors[0])
