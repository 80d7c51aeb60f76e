"""The reply cache on a real Redis: the callback's one-round-trip read and mark, the
worker's claim, "no reply" and "no such Campaign", scene links that follow a change."""

from __future__ import annotations

from connector.replies.cache import ANSWERED, NO_CAMPAIGN, PASSIVE, WORKER, ReplyCache
from connector.replies.model import Article, Reply, ReplyTarget

CAMPAIGN = "7015g00000AbCdE"
HELLO = Reply(text="Hello")
WELCOME = Reply(article=Article("Welcome", url="https://example.com/w"))


def test_the_callback_reads_and_marks_in_one_go(redis_conn):
    cache = ReplyCache(redis_conn)
    target = ReplyTarget(campaign=CAMPAIGN)
    assert cache.passive("evt-1", target) is None  # not cached: no mark either
    assert cache.answered(["evt-1"]) == {"evt-1": None}

    cache.store({CAMPAIGN + "AAZ": HELLO}, ttl=300)  # 18-char Ids are cached by 15
    assert cache.passive("evt-1", target) == HELLO
    assert cache.answered(["evt-1"]) == {"evt-1": PASSIVE}
    assert 0 < redis_conn.ttl(ANSWERED + "evt-1") <= 600
    assert cache.passive("evt-1", target) == HELLO  # WeChat's resend: same answer
    assert not cache.claim("evt-1")  # so the worker leaves it alone

    assert cache.claim("evt-2")  # the worker came first (say, a slow resend)...
    assert cache.passive("evt-2", target) is None  # ...the callback says "success"


def test_no_reply_and_no_campaign_are_cached_and_distinct(redis_conn):
    cache = ReplyCache(redis_conn)
    cache.store({CAMPAIGN: None, "701000000000001": NO_CAMPAIGN}, ttl=300)
    assert cache.campaigns([CAMPAIGN, "701000000000001", "701000000000002"]) == {
        CAMPAIGN: "", "701000000000001": NO_CAMPAIGN, "701000000000002": None}
    welcome = WELCOME.to_json()
    blank = ReplyTarget(campaign=CAMPAIGN, welcome=True)
    assert cache.passive("evt-1", blank, welcome) is None  # a campaign without a reply
    missing = ReplyTarget(campaign="701000000000001", welcome=True)
    assert cache.passive("evt-2", missing, welcome) == WELCOME  # names no campaign
    assert cache.passive("evt-3", ReplyTarget(campaign="701000000000001"), welcome) is None
    assert cache.passive("evt-4", ReplyTarget(welcome=True), welcome) == WELCOME
    assert cache.answered(["evt-1", "evt-2", "evt-3", "evt-4"]) == {
        "evt-1": None, "evt-2": PASSIVE, "evt-3": None, "evt-4": PASSIVE}


def test_a_scene_link_follows_the_campaigns_value(redis_conn):
    cache = ReplyCache(redis_conn)
    cache.store({CAMPAIGN: HELLO}, ttl=300)
    cache.store_scenes("WeChat_Scene__c", {CAMPAIGN: "SPRING"}, ["WINTER"], ttl=300)

    def by(value: str, key: str, welcome: bool = False) -> Reply | None:
        target = ReplyTarget(scene_field="WeChat_Scene__c", scene_value=value,
                             welcome=welcome)
        return cache.passive(key, target, WELCOME.to_json())

    assert by("spring", "evt-1") == HELLO  # values compare case-insensitively
    assert by("WINTER", "evt-2") is None and by("WINTER", "evt-3", welcome=True) == WELCOME
    assert by("AUTUMN", "evt-4", welcome=True) is None  # not cached: the worker finds out

    cache.store_scenes("WeChat_Scene__c", {CAMPAIGN: "Summer"}, [], ttl=300)
    assert cache.scenes("WeChat_Scene__c", ["SPRING", "summer"]) == {
        "SPRING": None, "summer": CAMPAIGN}
    cache.store_scenes("WeChat_Scene__c", {CAMPAIGN: None}, [], ttl=300)  # blanked
    assert cache.scenes("WeChat_Scene__c", ["summer"]) == {"summer": None}


def test_release_gives_back_only_the_workers_claim(redis_conn):
    cache = ReplyCache(redis_conn)
    assert cache.claim("evt-1")
    cache.release("evt-1")
    assert cache.answered(["evt-1"]) == {"evt-1": None} and cache.claim("evt-1")
    cache.store({CAMPAIGN: HELLO}, ttl=300)
    cache.passive("evt-2", ReplyTarget(campaign=CAMPAIGN))
    cache.release("evt-2")  # answered passively: stays answered
    assert cache.answered(["evt-1", "evt-2"]) == {"evt-1": WORKER, "evt-2": PASSIVE}
