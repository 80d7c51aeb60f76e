"""The org's Lead assignment rule on the bridge's writes, end to end: a scan creates a Lead
the rule routes (or not, as the mapping says), and never hands back a Lead sales owns."""

from __future__ import annotations

from connector.settings import DEFAULT_MAPPING
from tests.integration.conftest import running_bridge

ALWAYS = ('    LeadSource:        { value: "WeChat" }\n',
          '    LeadSource:        { value: "WeChat", on: always }\n')


def mapping_text(rules: str = "") -> str:
    """The shipped mapping, with LeadSource written on every event (an update of a
    matched Lead on each scan), plus a ``salesforce_rules:`` section."""
    text = DEFAULT_MAPPING.read_text(encoding="utf-8")
    assert ALWAYS[0] in text
    return text.replace(*ALWAYS) + rules


def test_a_scan_routes_new_leads_and_leaves_owned_ones_alone(tmp_path, redis_conn, redis_url,
                                                             monkeypatch):
    with running_bridge(tmp_path, redis_conn, redis_url, monkeypatch,
                        mapping=lambda box: mapping_text()) as bridge:
        sf, wx = bridge.box.salesforce, bridge.box.wechat
        known, stranger = (bridge.box.population.new_follower().openid for _ in range(2))
        owned = sf.seed("Lead", LastName="Known", Company="Acme", LeadSource="Web",
                        WeChat_OpenId__c=known, OwnerId=sf.admin_id)  # a rep's Lead
        for openid in (known, stranger):
            assert bridge.sender.deliver(wx.scan(openid, "sfc_none")).acknowledged
        bridge.work()
        leads = {r["WeChat_OpenId__c"]: r for r in sf.records("Lead")}
        assert leads[known]["Id"] == owned and leads[known]["LeadSource"] == "WeChat"
        assert leads[known]["OwnerId"] == sf.admin_id  # updated, not reassigned
        assert leads[stranger]["OwnerId"] == sf.rules.queue_id  # created: routed


def test_the_mapping_can_keep_the_rules_off_and_save_past_duplicate_alerts(
        tmp_path, redis_conn, redis_url, monkeypatch):
    rules = "\nsalesforce_rules:\n  assignment_rules: never\n  allow_duplicates: true\n"
    with running_bridge(tmp_path, redis_conn, redis_url, monkeypatch,
                        mapping=lambda box: mapping_text(rules)) as bridge:
        sf, wx = bridge.box.salesforce, bridge.box.wechat
        stranger = bridge.box.population.new_follower().openid
        assert bridge.sender.deliver(wx.scan(stranger, "sfc_none")).acknowledged
        bridge.work()
        (lead,) = [r for r in sf.records("Lead") if r["WeChat_OpenId__c"] == stranger]
        assert lead["OwnerId"] == sf.user_id  # the integration user: no rule ran
        assert bridge.context.salesforce.allow_duplicates is True
