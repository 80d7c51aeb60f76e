"""Signing people in with Salesforce: the OAuth 2.0 web-server flow with PKCE (S256).

The console (``webhooks/console/``) sends a person's browser to :func:`authorize_url`,
gets a code back on its callback, and trades it here (:func:`exchange_code`) with the
PKCE verifier only it holds; :func:`user_info` says who signed in, and
:func:`holds_permission_set` (one SOQL query through the bridge's own gateway) whether
that user may use the console. The Connected App is the bridge's own
(``SALESFORCE_CLIENT_ID``); its Callback URL must list the console's callback, and
``SALESFORCE_CLIENT_SECRET``, when set, is sent too (a Connected App may require the
secret for the web-server flow). Salesforce's page: OAuth 2.0 Web Server Flow for Web App
Integration, https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from connector.errors import FatalError
from connector.salesforce.errors import SYSTEM, Target
from connector.salesforce.gateway import SalesforceGateway
from connector.salesforce.http import translate_request_exception
from connector.settings import Settings

log = logging.getLogger("connector.salesforce")

_LOGIN = Target("web login")


@dataclass(frozen=True)
class Person:
    """Who signed in: the user's and org's ids, username and name (no token)."""

    user_id: str
    org_id: str
    username: str
    name: str
    instance_url: str
    access_token: str = field(repr=False, default="")


class SignInRefused(FatalError):
    """Salesforce refused the sign-in (a bad or used code, a verifier that does not
    match, a callback URL the Connected App does not list); the message says which."""


def authorize_url(settings: Settings, *, redirect_uri: str, state: str,
                  code_challenge: str) -> str:
    """Where to send the browser: the login host's authorize page, asking for a code."""
    query = urlencode({"response_type": "code", "client_id": settings.SALESFORCE_CLIENT_ID,
                       "redirect_uri": redirect_uri, "state": state,
                       "code_challenge": code_challenge, "code_challenge_method": "S256",
                       "scope": "api id openid", "prompt": "login"})
    return f"{settings.SALESFORCE_LOGIN_URL}/services/oauth2/authorize?{query}"


def _send(method: str, url: str, settings: Settings, **kwargs: Any) -> tuple[int, Any]:
    failure = None
    try:
        with requests.request(method, url, timeout=settings.SALESFORCE_TIMEOUT,
                              headers={"Accept": "application/json",
                                       **kwargs.pop("headers", {})},
                              **kwargs) as response:
            status, text = response.status_code, response.text
    except requests.RequestException as exc:
        failure = translate_request_exception(exc, _LOGIN)
    if failure is not None:
        raise failure
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def exchange_code(settings: Settings, *, code: str, code_verifier: str,
                  redirect_uri: str) -> Person:
    """Trade the authorization code for a session and say who it belongs to.

    Raises:
        SignInRefused: Salesforce refused the code (its ``error_description`` in words).
        RetriableError: no answer, a timeout or a 5xx from the login host.
    """
    form = {"grant_type": "authorization_code", "code": code,
            "client_id": settings.SALESFORCE_CLIENT_ID, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier}
    if settings.SALESFORCE_CLIENT_SECRET is not None:
        form["client_secret"] = settings.SALESFORCE_CLIENT_SECRET.get_secret_value()
    status, body = _send("POST", f"{settings.SALESFORCE_LOGIN_URL}/services/oauth2/token",
                         settings, data=form)
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        raise SignInRefused(f"Salesforce refused the sign-in: {detail or error or status}",
                            system=SYSTEM, status=status, code=error or "LOGIN_FAILED")
    instance_url = str(body.get("instance_url", "")).rstrip("/")
    token = str(body["access_token"])
    info = user_info(settings, instance_url, token)
    return Person(user_id=str(info["user_id"]), org_id=str(info["organization_id"]),
                  username=str(info.get("preferred_username", "")),
                  name=str(info.get("name", "")), instance_url=instance_url,
                  access_token=token)


def user_info(settings: Settings, instance_url: str, access_token: str) -> dict[str, Any]:
    """The OpenID Connect UserInfo of the session's user.

    Raises:
        SignInRefused: the token was refused, or the answer lacks the user's ids.
    """
    status, body = _send("GET", f"{instance_url}/services/oauth2/userinfo", settings,
                         headers={"Authorization": f"Bearer {access_token}"})
    if status != 200 or not isinstance(body, dict) or not body.get("user_id") \
            or not body.get("organization_id"):
        raise SignInRefused(f"Salesforce did not say who signed in (userinfo answered "
                            f"{status})", system=SYSTEM, status=status, code="USERINFO")
    return body


def holds_permission_set(gateway: SalesforceGateway, user_id: str, name: str) -> bool:
    """Whether ``user_id`` is assigned the permission set whose API name is ``name``
    (asked with the bridge's own session: its integration user reads setup objects).

    Raises:
        BridgeError: the query failed.
    """
    rows = gateway.query("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {} "
                         "AND PermissionSet.Name = {} LIMIT 1", user_id, name)
    return bool(rows)
