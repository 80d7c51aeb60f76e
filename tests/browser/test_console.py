"""The console in a real browser: sign in through the Salesforce emulator's login page,
find an injected failure on its card with the field and the fix, fix the mapping, replay
from the card, see the card clear. Screenshots of each page are taken every run; with
``CONSOLE_SCREENSHOTS=1`` they replace the README's, in docs/console/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.qr.codes import create_code
from mappings.loader import parse_mapping
from tests.browser.conftest import ADMIN, ADMIN_PASSWORD
from tests.browser.test_console_messages import send
from tests.integration.test_messages import campaign_with, new_followers

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
PHONE_LINE = '    LeadSource:        { value: "WeChat" }'


def sign_in(page, console, username=ADMIN, password=ADMIN_PASSWORD):
    page.goto(console.url)
    assert page.url.endswith("/console/login")  # not signed in: sent to the sign-in page
    page.click("#signin")
    page.wait_for_selector("#username")  # the emulator's login page
    assert page.url.startswith(console.box.salesforce_url + "/services/oauth2/authorize")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#Login")
    page.wait_for_load_state()


@pytest.fixture
def shots(tmp_path):
    return SHOTS if os.environ.get("CONSOLE_SCREENSHOTS") == "1" else tmp_path


def shoot(page, folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))
    assert (folder / f"{name}.png").stat().st_size > 0


def test_sign_in_see_the_failure_fix_replay_and_the_card_clears(console, page, shots):
    sf, wx = console.box.salesforce, console.box.wechat
    sf.require_fields("Lead", ["Phone"])  # an admin made Phone required
    openid = console.box.population.new_follower().openid
    assert console.sender.deliver(wx.follow(openid)).acknowledged
    console.work()

    sign_in(page, console)
    assert page.url == console.url  # the sync health page
    card = page.locator("#card-salesforce-REQUIRED_FIELD_MISSING")
    assert card.locator(".count").inner_text() == "1"
    assert card.locator("code.field").all_inner_texts() == ["Phone"]
    assert "Set Phone for Lead in the mapping file" in card.locator(".fix").inner_text()
    assert openid in card.inner_text()  # the follower it concerns
    shoot(page, shots, "sync-health")

    # the admin adds Phone to the mapping (the worker reloads it), then replays the card
    text = console.mapping_file.read_text().replace(
        PHONE_LINE, PHONE_LINE + '\n    Phone:             { value: "n/a" }')
    console.mapping_file.write_text(text)
    console.context.mapping = parse_mapping(text, console.mapping_file)
    card.locator("button.replay").click()
    page.wait_for_selector("#done")
    console.work()
    page.goto(console.url)
    assert page.locator("#all-clear").is_visible()
    assert page.locator(".card").count() == 0
    assert sum(r.get("Phone") == "n/a" for r in sf.records("Lead")) == 1

    message = a_campaign_message(console)
    for path, name in (("/throughput", "throughput"), ("/budgets", "budgets"),
                       ("/mapping", "mapping"), ("/campaigns", "campaigns")):
        page.goto(console.url + path)
        assert page.locator("h1").count() == 1, name
        shoot(page, shots, name)
    see_the_request_and_its_recipients(page, console, message, shots)
    page.goto(console.url + "/throughput")
    assert page.locator("table tr").count() >= 2  # a minute with the event received
    assert "Followers messaged" in page.goto(console.url + "/budgets").text()
    assert page.locator("#sf-usage").is_visible()  # the bridge has seen Salesforce's usage
    # WeChat's daily call quota per API: the profile read for the follow is counted
    account = wx.original_id
    profiles = page.locator(f"#wx-quota-{account}-user-info-batchget")
    assert int(profiles.locator(".used").inner_text()) >= 1
    token = page.locator(f"#wx-quota-{account}-stable_token")
    assert token.locator(".limit").inner_text() == "500,000"

    page.goto(console.url + "/mapping")
    push = wx.follow(console.box.population.new_follower().openid)
    page.fill("textarea[name=xml]", push.xml(wx.original_id))
    page.click("#preview")
    result = page.locator("#result").inner_text()
    assert '"follower_object": "WeChat_Follower__c"' in result
    shoot(page, shots, "mapping-preview")


def a_campaign_message(console) -> str:
    """A template message to a campaign's 12 members, sent the real way: 10 receive it,
    one has turned the account's template messages off, one has left; WeChat's
    job-finish reports come back. The request's Id."""
    openids = new_followers(console, 12)
    console.box.population.refuse_templates(openids[0])
    console.box.population.unfollow(openids[1])
    campaign = campaign_with(console, openids, "Spring launch")
    create_code(console.context, campaign)
    message = send(console, Channel__c="template", Target__c="campaign", Campaign__c=campaign,
                   Template_Id__c="TPL_ORDER_SHIPPED", Data__c='{"first": "Spring is here"}')
    for push in console.box.wechat.outbox.take_pushes():
        assert console.sender.deliver(push).acknowledged
    console.work()
    return message


def see_the_request_and_its_recipients(page, console, message, shots):
    page.goto(console.url + "/campaigns")
    row = page.locator(f"#request-{message}")
    assert row.locator(".status").inner_text() == "Done"
    assert row.locator(".size").inner_text() == "12"
    assert row.locator(".sent").inner_text() == "10 sent"
    assert row.locator(".delivered").inner_text() == "10 delivered"
    reasons = row.locator("li.reason").all_inner_texts()
    assert sorted(reasons) == [
        "1 skipped: WeChat errcode 43004, no longer follows the account",
        "1 skipped: WeChat errcode 43101, turned off the account's template messages"]
    row.locator("a.drill").click()
    page.wait_for_selector("#recipients")
    assert page.locator("tr.recipient").count() == 12
    assert page.locator("tr.recipient.delivered").count() == 10
    page.locator(".filters a", has_text="skipped").click()
    page.wait_for_url("**?status=skipped")
    assert page.locator("tr.recipient").count() == 2
    shoot(page, shots, "message-recipients")


def test_a_user_without_the_permission_set_is_refused(console, page):
    sign_in(page, console, "sales@bridge.sandbox", "sales-pw")
    assert "does not hold the permission set WeChat_Bridge_Admin" in page.locator(
        "#problem").inner_text()
    page.goto(console.url)
    assert page.url.endswith("/console/login")  # still not signed in


def test_a_wrong_password_stays_on_the_login_page(console, page):
    sign_in(page, console, ADMIN, "wrong")
    assert "check your username and password" in page.locator("#error").inner_text()
