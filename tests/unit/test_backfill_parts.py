"""The backfill's pure parts: the event a follower becomes, the report, the plain lines."""

from __future__ import annotations

import io

import pytest

from connector.backfill.followers import Treatment, event_for
from connector.backfill.progress import Lines, for_stream
from connector.backfill.state import Snapshot
from connector.cli.backfill import report_lines
from connector.follower import Follower

FOLLOWER = Follower(openid="oABC", subscribed=True, subscribe_time=1_600_000_000,
                    qr_scene_str="sfc_701000000000001")


def test_a_follower_becomes_the_follow_push_wechat_sent():
    event = event_for("gh_1", FOLLOWER, Treatment())
    assert (event.rule_name, event.create_time, event.scene) == (
        "subscribe", 1_600_000_000, "sfc_701000000000001")
    assert event.event_key == "qrscene_sfc_701000000000001"
    live = event.from_fields({"ToUserName": "gh_1", "FromUserName": "oABC",
                              "CreateTime": "1600000000", "MsgType": "event",
                              "Event": "subscribe",
                              "EventKey": "qrscene_sfc_701000000000001"})
    assert event.dedupe_key == live.dedupe_key  # its campaign touch counts once


def test_a_follower_may_count_as_a_scan_or_join_no_campaign():
    scan = event_for("gh_1", FOLLOWER, Treatment("scan"))
    assert (scan.rule_name, scan.scene) == ("scan", "sfc_701000000000001")
    plain = event_for("gh_1", FOLLOWER, Treatment(join_campaigns=False))
    assert plain.scene is None and plain.event_key is None
    with pytest.raises(ValueError, match="subscribe, scan"):
        Treatment("click")


def test_without_a_subscribe_time_the_follow_is_now():
    event = event_for("gh_1", Follower(openid="o1", subscribed=True), Treatment(), now=42)
    assert event.create_time == 42 and event.scene is None


def test_the_report_names_reasons_and_calls_per_follower():
    snap = Snapshot("gh_1", status="running", total=1000,
                    counts={"pages_done": 1, "read": 400, "created": 300, "matched": 98,
                            "skipped": 2, "calls_wechat": 5, "calls_salesforce": 8},
                    skipped={"unfollowed after the list was read": 2})
    lines = "\n".join(report_lines(snap, running=False))
    assert "interrupted" in lines and "followers read: 400 of 1,000" in lines
    assert "persons created: 300  matched: 98  skipped: 2" in lines
    assert "2 skipped: unfollowed after the list was read" in lines
    assert "WeChat 5, Salesforce 8 (0.020 per follower)" in lines


def test_plain_lines_give_rate_and_eta_when_not_a_terminal():
    out = io.StringIO()
    progress = for_stream(out)
    assert isinstance(progress, Lines)
    progress.start(1000, 200)
    progress.advance(200, 150, 50, 0)
    progress.close()
    line = out.getvalue()
    assert "400/1,000 followers (40%)" in line and "/s, ETA " in line
    assert "150 created, 50 matched, 0 skipped" in line
