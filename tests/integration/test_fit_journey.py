"""``fit`` end to end: a value longer than its field lands cut to the length the org's
describe gives (counted in characters), and preview shows the same cut value."""

from __future__ import annotations

from connector.inbound.lengths import KEY
from connector.inbound.preview import preview_push
from connector.settings import DEFAULT_MAPPING
from mappings.loader import parse_mapping

LAST_NAME = '    LastName:          { source: follower.remark, default: "WeChat Follower" }'
FITTED = ('    LastName:          { template: "{event.scene} / {event.scene}", transform: fit, '
          'default: "WeChat Follower" }')
SCENE = "上海浦东新区张江高科技园区秋季新品发布会现场扫码领取礼品活动" * 2  # 60 characters


def test_a_long_value_lands_cut_to_the_fields_length(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    text = DEFAULT_MAPPING.read_text()
    assert LAST_NAME in text
    bridge.context.mapping = parse_mapping(text.replace(LAST_NAME, FITTED, 1),
                                           DEFAULT_MAPPING)
    newcomer = bridge.box.population.new_follower().openid
    push = wx.scan(newcomer, SCENE)
    expected = f"{SCENE} / {SCENE}"[:80]  # Lead.LastName holds 80 characters
    assert len(f"{SCENE} / {SCENE}") == 123

    preview = preview_push(bridge.context, push.xml(bridge.box.env["WECHAT_ORIGINAL_ID"]))
    [lead] = [w for w in preview["writes"] if w["object"] == "Lead"]
    assert lead["records"][0]["LastName"] == expected
    assert bridge.redis.get(KEY.format("Lead")) is not None  # kept for the work horses

    assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    [stored] = [r for r in sf.records("Lead") if r["WeChat_OpenId__c"] == newcomer]
    assert stored["LastName"] == expected
