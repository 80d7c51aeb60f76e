"""The console's sign-in and its guards over plain HTTP (no browser): PKCE, state and
CSRF refusals, the session cookie's flags, discard from a card; the emulator's code
exchange refuses as Salesforce does."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sandbox.salesforce.web_login import s256
from tests.browser.conftest import ADMIN, ADMIN_PASSWORD


def start(client) -> dict[str, str]:
    """The authorize request the console sends the browser to, as its parameters."""
    answer = client.get("/console/login/salesforce")
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def log_in(emulator, params, username=ADMIN, password=ADMIN_PASSWORD) -> dict[str, str]:
    """Post the emulator's login form; the code and state it redirects with."""
    answer = emulator.post("/services/oauth2/authorize",
                           data={**params, "username": username, "password": password})
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def signed_in(client, emulator) -> str:
    """Sign in; the CSRF token of the session."""
    back = log_in(emulator, start(client))
    answer = client.get("/console/oauth/callback", params=back)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    page = client.get("/console").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_authorize_request_carries_an_s256_challenge_and_a_state(client):
    params = start(client)
    assert params["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"])
    assert params["state"] and params["response_type"] == "code"


def test_the_emulator_checks_the_code_verifier_exactly_and_codes_are_single_use(
        client, emulator, console):
    params = start(client)
    code = log_in(emulator, params)["code"]
    form = {"grant_type": "authorization_code", "code": code,
            "client_id": params["client_id"], "redirect_uri": params["redirect_uri"],
            "code_verifier": "not-the-verifier-" + "x" * 30}
    refused = emulator.post("/services/oauth2/token", data=form)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description":
                              "invalid code verifier"}
    again = emulator.post("/services/oauth2/token", data=form)  # the code is spent
    assert again.json()["error_description"] == "invalid authorization code"

    verifier = "v" * 43
    params = {**params, "code_challenge": s256(verifier)}
    code = log_in(emulator, params)["code"]
    wrong_uri = emulator.post("/services/oauth2/token", data={
        **form, "code": code, "redirect_uri": params["redirect_uri"] + "x",
        "code_verifier": verifier})
    assert wrong_uri.json()["error"] == "redirect_uri_mismatch"
    code = log_in(emulator, params)["code"]
    token = emulator.post("/services/oauth2/token", data={
        **form, "code": code, "code_verifier": verifier})
    assert token.status_code == 200 and token.json()["access_token"]
    info = emulator.get("/services/oauth2/userinfo", headers={
        "Authorization": f"Bearer {token.json()['access_token']}"}).json()
    assert info["preferred_username"] == ADMIN
    assert info["organization_id"] == console.box.salesforce.org_id


def test_the_emulator_refuses_an_unlisted_callback_on_its_own_page(client, emulator):
    params = {**start(client), "redirect_uri": "https://evil.example/cb"}
    page = emulator.get("/services/oauth2/authorize", params=params)
    assert page.status_code == 400 and "redirect_uri_mismatch" in page.text


def test_a_callback_with_another_state_is_refused(client, emulator):
    back = log_in(emulator, start(client))
    answer = client.get("/console/oauth/callback", params={**back, "state": "forged"})
    assert answer.status_code == 400 and "not started here" in answer.text
    assert client.get("/console").headers["location"] == "/console/login"


def test_the_session_cookie_is_signed_httponly_lax_and_kept_to_the_console(client, emulator):
    back = log_in(emulator, start(client))
    cookie = client.get("/console/oauth/callback", params=back).headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/console" in cookie.lower()
    client.cookies.set("bridge_console", "forged.value", path="/console")
    assert client.get("/console").headers["location"] == "/console/login"


def test_every_post_needs_the_csrf_token_and_discard_clears_the_card(client, emulator,
                                                                     console):
    sf, wx = console.box.salesforce, console.box.wechat
    sf.require_fields("Lead", ["Phone"])
    assert console.sender.deliver(wx.follow(console.box.population.new_follower().openid)
                                  ).acknowledged
    console.work()
    csrf = signed_in(client, emulator)
    page = client.get("/console").text
    assert "REQUIRED_FIELD_MISSING" in page
    job = re.search(r'name="jobs" value="([^"]+)"', page).group(1)
    form = {"queue": "inbound", "jobs": job}
    for sent in ({}, {"csrf": "x" * 43}):
        refused = client.post("/console/failures/discard", data={**form, **sent})
        assert refused.status_code == 403 and "security token" in refused.text
    assert client.post("/console/logout", data={}).status_code == 403
    done = client.post("/console/failures/discard", data={**form, "csrf": csrf})
    assert done.status_code == 303
    assert "all-clear" in client.get("/console").text
    gone = client.post("/console/failures/replay", data={**form, "csrf": csrf})
    assert gone.status_code == 409 and "not a failed inbound job" in gone.text
