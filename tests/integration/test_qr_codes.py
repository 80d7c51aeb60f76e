"""QR codes for Salesforce records, end to end: the bridge's own code against both
sandboxes over HTTPS (WeChat's qrcode/create and showqrcode, Salesforce's REST API),
with a real Redis. One code per record unless forced; channel codes; product codes;
codes asked for by ticking a flag in Salesforce; WeChat's permanent-code limit."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
import yaml

from connector.cli import main
from connector.qr.codes import create_code
from connector.qr.registry import QrRegistry
from connector.qr.requests import create_requested, failed_requests, poll_requested
from connector.qr.rules import QrRequestError
from connector.settings import DEFAULT_MAPPING
from mappings.loader import MappingLoader
from sandbox.wechat.routes_qrcode import IMAGE_PIXELS

PNG = b"\x89PNG\r\n\x1a\n"
FIELDS = {"ticket_field": "WeChat_QR_Ticket__c", "image_url_field": "WeChat_QR_Url__c",
          "scene_field": "WeChat_Scene__c", "request_field": "WeChat_QR_Requested__c"}
QR = {"objects": {"Campaign": dict(FIELDS), "Product2": {"scene_prefix": "sfp_", **FIELDS}}}
CREATE = "/cgi-bin/qrcode/create"


def qr_mapping(_box, **campaigns) -> str:
    """The shipped mapping with the qr: section this feature documents (and ``campaigns``
    keys changed)."""
    data = yaml.load(DEFAULT_MAPPING.read_text(encoding="utf-8"), Loader=MappingLoader)  # noqa: S506
    data["qr"] = QR
    data["campaigns"].update(campaigns)
    # the channel a Lead came by (the shipped mapping has it too)
    data["objects"]["Lead"]["WeChat_Channel__c"] = {"source": "event.channel"}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.fixture
def qr_bridge(make_bridge):
    return make_bridge(mapping=qr_mapping)


def record(bridge, sobject, record_id):
    return next(r for r in bridge.box.salesforce.records(sobject) if r["Id"] == record_id)


def registry_rows(bridge):
    return bridge.box.salesforce.records("WeChat_QR_Code__c")


def fetch(bridge, url):
    return requests.get(url, timeout=5, verify=str(bridge.box.tls.bundle_file))


def test_a_record_gets_one_code_and_force_makes_a_new_one(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    campaign = bridge.box.salesforce.seed("Campaign", Name="Spring poster", IsActive=True)
    bridge.box.wechat.reset_api_calls()

    first = create_code(ctx, campaign)
    again = create_code(ctx, campaign[:15])  # the 15-character Id names the same record

    assert (first.created, again.created) == (True, False)
    assert first.scene == f"sfc_{campaign}" and again.ticket == first.ticket
    assert bridge.box.wechat.api_calls[CREATE] == 1  # one WeChat code
    [row] = registry_rows(bridge)
    assert (row["Code_Key__c"], row["Object__c"], row["Campaign__c"], row["Permanent__c"],
            row["Expires_At__c"], row["Version__c"]) == (
        f"{bridge.box.wechat.original_id}:sfc_{campaign}", "Campaign", campaign, True, None, 1)
    written = record(bridge, "Campaign", campaign)
    assert (written["WeChat_QR_Ticket__c"], written["WeChat_QR_Url__c"],
            written["WeChat_Scene__c"]) == (first.ticket, first.image_url, campaign)
    assert first.image_url.startswith(bridge.box.wechat_url + "/cgi-bin/showqrcode?ticket=gQ")

    forced = create_code(ctx, campaign, force=True)

    assert forced.created and forced.ticket != first.ticket
    assert (forced.scene, forced.version) == (f"sfc_{campaign}.~2", 2)
    assert bridge.box.wechat.api_calls[CREATE] == 2
    assert len(registry_rows(bridge)) == 2  # the first code still scans: it stays listed
    assert record(bridge, "Campaign", campaign)["WeChat_QR_Ticket__c"] == forced.ticket
    assert create_code(ctx, campaign).ticket == forced.ticket  # the newest is the one
    listed = QrRegistry(ctx.salesforce).codes(record_id=campaign)
    assert [c.version for c in listed] == [2, 1]


def test_the_image_is_a_png_qr_code_and_can_be_saved(qr_bridge, tmp_path):
    bridge, ctx = qr_bridge, qr_bridge.context
    campaign = bridge.box.salesforce.seed("Campaign", Name="Print me", IsActive=True)

    code = create_code(ctx, campaign, png=tmp_path / "poster.png")

    saved = (tmp_path / "poster.png").read_bytes()
    assert saved.startswith(PNG) and code.png_path == str(tmp_path / "poster.png")
    width = int.from_bytes(saved[16:20], "big")  # the IHDR chunk's width
    assert IMAGE_PIXELS * 0.8 <= width <= IMAGE_PIXELS
    served = fetch(bridge, code.image_url)
    assert (served.status_code, served.headers["content-type"]) == (200, "image/png")
    assert served.content == saved
    unknown = fetch(bridge, bridge.box.wechat_url + "/cgi-bin/showqrcode?ticket=gQnope")
    assert unknown.status_code == 404


def test_temporary_codes_last_at_most_30_days(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    campaign = bridge.box.salesforce.seed("Campaign", Name="Flash sale", IsActive=True)
    bridge.box.wechat.reset_api_calls()

    with pytest.raises(QrRequestError, match="at most 30 days"):
        create_code(ctx, campaign, temporary_days=31)
    assert bridge.box.wechat.api_calls[CREATE] == 0  # refused before asking WeChat

    code = create_code(ctx, campaign, temporary_days=2)

    assert not code.permanent
    assert abs(code.expires_at.timestamp() - (time.time() + 2 * 86400)) < 60
    [row] = registry_rows(bridge)
    assert row["Permanent__c"] is False and row["Expires_At__c"].startswith(
        code.expires_at.strftime("%Y-%m-%dT%H:%M"))
    with pytest.raises(QrRequestError, match="temporary QR code until .* --force"):
        create_code(ctx, campaign)  # a permanent one is another code: only when forced
    assert create_code(ctx, campaign, temporary_days=5).ticket == code.ticket


def test_channel_codes_share_the_campaign_and_leave_its_fields_alone(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    campaign = bridge.box.salesforce.seed("Campaign", Name="Store week", IsActive=True)
    own = create_code(ctx, campaign)

    stores = [create_code(ctx, campaign, channel=name) for name in ("store-001", "store-002")]

    assert [c.scene for c in stores] == [f"sfc_{campaign}.store-001",
                                         f"sfc_{campaign}.store-002"]
    assert create_code(ctx, campaign, channel="store-001").created is False
    rows = {r["Scene__c"]: r for r in registry_rows(bridge)}
    assert set(rows) == {own.scene, *(c.scene for c in stores)}
    assert {rows[c.scene]["Channel__c"] for c in stores} == {"store-001", "store-002"}
    assert {r["Campaign__c"] for r in rows.values()} == {campaign}
    written = record(bridge, "Campaign", campaign)
    assert (written["WeChat_QR_Ticket__c"], written["WeChat_QR_Url__c"]) == (
        own.ticket, own.image_url)
    with pytest.raises(QrRequestError, match="channel 'store 3'"):
        create_code(ctx, campaign, channel="store 3")


def test_scans_of_channel_codes_and_remade_codes_make_campaign_members(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    campaign = bridge.box.salesforce.seed("Campaign", Name="Branch", IsActive=True)
    branch = create_code(ctx, campaign, channel="branch-7")
    create_code(ctx, campaign, channel="store-9")
    remade = create_code(ctx, campaign, channel="store-9", force=True)
    ann, bob = (bridge.box.population.new_follower().openid for _ in range(2))

    for openid, code in ((ann, branch), (bob, remade)):
        assert bridge.sender.deliver(bridge.box.wechat.scan(openid, code.scene)).acknowledged
    bridge.work()

    assert bridge.count("CampaignMember", CampaignId=campaign) == 2
    leads = {r["WeChat_OpenId__c"]: r for r in bridge.box.salesforce.records("Lead")}
    # the channel the Lead came by, without the re-made code's version
    assert (leads[ann]["WeChat_Channel__c"], leads[bob]["WeChat_Channel__c"]) == (
        "branch-7", "store-9")


def test_campaigns_resolved_by_a_field_get_codes_of_that_field(make_bridge):
    bridge = make_bridge(mapping=lambda box: qr_mapping(
        box, resolve={"field": "WeChat_Scene__c"}))
    sf, ctx = bridge.box.salesforce, bridge.context
    named = sf.seed("Campaign", Name="Fair", WeChat_Scene__c="spring-fair")
    unnamed = sf.seed("Campaign", Name="No scene yet")

    by_value, by_id = create_code(ctx, named), create_code(ctx, unnamed, channel="s1")

    assert (by_value.scene, by_id.scene) == ("sfc_spring-fair", f"sfc_{unnamed}.s1")
    assert record(bridge, "Campaign", unnamed)["WeChat_Scene__c"] == unnamed  # findable
    for code in (by_value, by_id):
        openid = bridge.box.population.new_follower().openid
        assert bridge.sender.deliver(bridge.box.wechat.scan(openid, code.scene)).acknowledged
    bridge.work()
    assert [bridge.count("CampaignMember", CampaignId=c) for c in (named, unnamed)] == [1, 1]


def test_a_product_gets_a_code_with_its_own_prefix(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    sf = bridge.box.salesforce
    product = sf.seed("Product2", Name="Oolong tea", ProductCode="TEA-01", IsActive=True)

    code = create_code(ctx, product)

    assert code.scene == f"sfp_{product}" and code.object == "Product2"
    written = record(bridge, "Product2", product)
    assert (written["WeChat_QR_Ticket__c"], written["WeChat_Scene__c"]) == (code.ticket,
                                                                             product)
    [row] = registry_rows(bridge)
    assert (row["Object__c"], row["Campaign__c"]) == ("Product2", None)
    lead = sf.seed("Lead", LastName="Li", Company="Tea House")
    with pytest.raises(QrRequestError, match="Lead records get no QR codes.*add Lead"):
        create_code(ctx, lead)


def test_flagged_records_get_their_codes_and_failures_are_kept(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    flagged = sf.seed("Campaign", Name="Asked for", WeChat_QR_Requested__c=True)
    product = sf.seed("Product2", Name="Green tea", WeChat_QR_Requested__c=True)
    plain = sf.seed("Campaign", Name="Not asked")
    wx.faults.add(endpoint=CREATE, status=200, code="45029", count=1)

    first = poll_requested(ctx)

    [(failed, reason)] = first.failed.items()  # WeChat refused one of the two
    assert "permanent QR codes are used up" in reason
    assert len(first.made) == 1
    assert record(bridge, first.made[0].object, first.made[0].record_id)[
        "WeChat_QR_Requested__c"] is False
    assert record(bridge, "Product2" if failed == product else "Campaign", failed)[
        "WeChat_QR_Requested__c"] is True  # kept: asked again on a later poll
    assert failed in failed_requests(bridge.redis)

    second = poll_requested(ctx)  # the fix is WeChat's or an admin's: held until an edit
    assert (second.held, second.made) == ([failed], [])
    bridge.context.salesforce.update("Product2" if failed == product else "Campaign",
                                     failed, {"Name": "Asked for, again"})
    third = poll_requested(ctx)

    assert [c.record_id for c in third.made] == [failed] and not third.failed
    assert failed_requests(bridge.redis) == {}
    assert {r["Record_Id__c"] for r in registry_rows(bridge)} == {flagged, product}
    assert record(bridge, "Campaign", plain)["WeChat_QR_Ticket__c"] is None
    assert poll_requested(ctx).to_dict()["made"] == []


def test_records_from_the_change_poller_are_made_by_their_flag(qr_bridge):
    bridge, ctx = qr_bridge, qr_bridge.context
    sf = bridge.box.salesforce
    asked = sf.seed("Campaign", Name="Asked", WeChat_QR_Requested__c=True)
    not_asked = sf.seed("Campaign", Name="Edited, not asked")
    rows = ctx.salesforce.query("SELECT Id, SystemModstamp, WeChat_QR_Requested__c FROM "
                                "Campaign ORDER BY Name")  # no attributes: by Id prefix

    summary = create_requested(ctx, rows)

    assert [c.record_id for c in summary.made] == [asked]
    assert summary.skipped == [not_asked]
    assert record(bridge, "Campaign", asked)["WeChat_QR_Requested__c"] is False


def test_the_permanent_limit_warns_then_refuses_but_temporary_codes_go_on(qr_bridge, caplog):
    bridge, ctx = qr_bridge, qr_bridge.context
    sf = bridge.box.salesforce
    products = [sf.seed("Product2", Name=f"P{i}") for i in range(3)]
    caplog.set_level(logging.WARNING, logger="connector.qr.codes")

    create_code(ctx, products[0], limit=2)
    assert "permanent QR codes" not in caplog.text
    create_code(ctx, products[1], limit=2)  # the second of two: past 90%
    assert "2 of its 2 permanent QR codes" in caplog.text
    with pytest.raises(QrRequestError, match="2 permanent QR codes.*--temporary"):
        create_code(ctx, products[2], limit=2)
    assert not create_code(ctx, products[2], limit=2, temporary_days=7).permanent


def test_cli_creates_and_lists(qr_bridge, capsys, tmp_path):
    bridge = qr_bridge
    campaign = bridge.box.salesforce.seed("Campaign", Name="By hand", IsActive=True)

    assert main(["qr", "create", "--record", campaign, "--channel", "a", "--channel", "b",
                 "--png", str(tmp_path / "code.png"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert [c["scene"] for c in made] == [f"sfc_{campaign}.a", f"sfc_{campaign}.b"]
    assert (tmp_path / "code-a.png").read_bytes().startswith(PNG)
    assert main(["qr", "create", "--record", campaign]) == 0
    assert capsys.readouterr().out.startswith(f"made   sfc_{campaign}  (Campaign")
    assert main(["qr", "create", "--record", campaign]) == 0
    assert capsys.readouterr().out.startswith(f"found  sfc_{campaign}")
    assert main(["qr", "list", "--record", campaign]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 code(s)"
    assert main(["qr", "create", "--record", campaign, "--temporary", "45"]) == 1
    assert "at most 30 days" in capsys.readouterr().err
    assert main(["qr", "create", "--record", campaign, "--account", "gh_0123456789ab"]) == 2
    assert "gh_0123456789ab is not a configured WeChat account" in capsys.readouterr().err
