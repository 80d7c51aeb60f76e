"""Scene strings (campaign, channel, version) and lifecycle stage arithmetic: pure."""

from __future__ import annotations

import pytest

from connector.events import InboundEvent
from connector.scenes import Scene, make_scene, parse_scene
from mappings.lifecycle import LifecycleSection, RuleSpec, next_stage

CAMPAIGN = "7015g00000AbCdEAAZ"


@pytest.mark.parametrize(("scene", "parsed"), [
    (f"sfc_{CAMPAIGN}", Scene("sfc_", CAMPAIGN)),
    (f"sfc_{CAMPAIGN}.store-042", Scene("sfc_", CAMPAIGN, "store-042")),
    (f"sfc_{CAMPAIGN}.store-042~3", Scene("sfc_", CAMPAIGN, "store-042", 3)),
    (f"sfc_{CAMPAIGN}.~2", Scene("sfc_", CAMPAIGN, None, 2)),
    (f"sfc_{CAMPAIGN}.a~b", Scene("sfc_", CAMPAIGN, "a~b")),  # not a version: a channel
    ("sfp_01t5g000001ABCD", Scene("sfp_", "01t5g000001ABCD")),
    ("sfc_", None), ("other_123", None), (None, None), ("sfc_.x", None),
])
def test_scenes_name_a_record_a_channel_and_a_version(scene, parsed):
    assert parse_scene(scene, ["sfc_", "sfp_"]) == parsed
    if parsed is not None:
        assert str(parsed) == scene


def test_the_longest_prefix_wins_and_bad_scenes_are_refused():
    assert parse_scene("sfc_x_1", ["sfc_", "sfc_x_"]) == Scene("sfc_x_", "1")
    with pytest.raises(ValueError, match="64 at most"):
        make_scene("sfc_", CAMPAIGN, "s" * 50)
    with pytest.raises(ValueError, match="free of"):
        make_scene("sfc_", CAMPAIGN, "a.b")


def test_an_event_knows_its_channel_and_whether_it_is_an_act():
    def event(**kw):
        return InboundEvent(account="gh_1", openid="o1", create_time=7, **kw)
    assert event(msg_type="event", event="scan", scene=f"sfc_{CAMPAIGN}.s1~2").channel == "s1"
    assert event(msg_type="event", event="scan", scene=f"sfc_{CAMPAIGN}").channel is None
    assert event(msg_type="text").interaction_time == 7
    assert event(msg_type="event", event="click").interaction_time == 7
    for quiet in ("unsubscribe", "location", "templatesendjobfinish", "masssendjobfinish"):
        assert event(msg_type="event", event=quiet).interaction_time is None
    assert event(msg_type="location").interaction_time == 7  # a location the user sent


STAGES = ("Follower", "Engaged", "Customer")


@pytest.mark.parametrize(("current", "hits", "stage"), [
    (None, ["Follower"], "Follower"),
    ("Engaged", ["Follower"], "Engaged"),  # never back
    ("Follower", ["Customer", "Engaged"], "Customer"),
    ("Set by hand", ["Follower"], "Follower"),  # a value outside the stages counts as none
    ("Customer", [], "Customer"),
])
def test_stages_move_forward_only(current, hits, stage):
    assert next_stage(STAGES, current, [RuleSpec(h) for h in hits]) == stage


def test_a_backwards_rule_may_move_back():
    assert next_stage(STAGES, "Customer", [RuleSpec("Follower", backwards=True)]) == "Follower"


def test_rules_fire_on_events_and_on_the_persons_values():
    section = LifecycleSection.model_validate({
        "field": "Stage__c", "stages": list(STAGES), "rules": [
            {"stage": "Follower", "events": ["subscribe"]},
            {"stage": "Engaged", "object": "Lead", "field": "Status", "in": ["Working"]},
            {"stage": "Customer", "object": "Contact", "field": "Email", "not_blank": True}]})
    life = section.plan()
    assert [r.stage for r in life.fired("subscribe", None, None)] == ["Follower"]
    assert [r.stage for r in life.fired("scan", "Lead", {"status": "Working"})] == ["Engaged"]
    assert life.fired("scan", "Contact", {"Email": ""}) == []
    assert life.person_fields() == {"Lead": {"Status"}, "Contact": {"Email"}}


@pytest.mark.parametrize(("rule", "message"), [
    ({"stage": "Follower"}, "has no condition"),
    ({"stage": "Follower", "field": "Email", "not_blank": True, "events": ["scan"]},
     "needs object"),
    ({"stage": "Follower", "object": "Lead", "field": "Email"}, "needs in:"),
    ({"stage": "Nowhere", "events": ["scan"]}, "not in stages"),
])
def test_bad_rules_are_refused_with_the_fix(rule, message):
    with pytest.raises(ValueError, match=message):
        LifecycleSection.model_validate({"field": "Stage__c", "stages": list(STAGES),
                                         "rules": [rule]})


def test_a_preview_of_touches_counts_nothing(redis_conn):
    from connector.inbound import touches

    first = touches.TouchEvent("k1", "701A", "o1", 100, None, followed=True)
    again = touches.TouchEvent("k2", "701A", "o1", 200, "s1")
    assert touches.peek(redis_conn, [first])[("701A", "o1")] == touches.Touch(
        100, 100, 1, None, None)
    touches.record(redis_conn, [first])
    assert touches.peek(redis_conn, [first, again])[("701A", "o1")] == touches.Touch(
        100, 200, 2, None, "s1")
    assert touches.peek(redis_conn, [first])[("701A", "o1")].scans == 1  # nothing counted
    assert touches.counts(redis_conn, "701A")[1].scans == 1
