"""Getting an access token: OAuth 2.0 JWT bearer, or client credentials without a key.

The token request is made with requests directly because simple-salesforce's own JWT
login builds its URL from a ``domain`` and cannot reach an arbitrary login host (a My
Domain, or the local sandbox).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt
import requests

from connector.errors import ConfigurationError, FatalError
from connector.salesforce.errors import SYSTEM, Target, classify_login_failure
from connector.salesforce.http import translate_request_exception
from connector.settings import Settings

log = logging.getLogger("connector.salesforce")

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 180  # seconds; Salesforce accepts at most 5 minutes (clock skew included)
_LOGIN = Target("login")


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is valid for. The token never shows in repr.

    ``identity_url`` is the response's ``id`` (``.../id/<org id>/<user id>``), when sent.
    """

    instance_url: str
    access_token: str = field(repr=False)
    identity_url: str | None = None


LOGIN_AUDIENCE = "https://login.salesforce.com"
TEST_AUDIENCE = "https://test.salesforce.com"


def jwt_audience(login_url: str, configured: str | None = None) -> str:
    """The ``aud`` claim of the JWT: ``configured`` (SALESFORCE_JWT_AUDIENCE) when set,
    else a guess from ``login_url``.

    Salesforce accepts login.salesforce.com (production and Developer Edition orgs,
    whatever their My Domain), test.salesforce.com (sandboxes and scratch orgs, whatever
    their My Domain) or an Experience Cloud site's URL; nothing else, the My Domain URL
    included ("audience is invalid"). The host tells the kind of org only for the
    documented domains: ``test.``, ``*.sandbox.my.`` and ``*.scratch.my.salesforce.com``,
    and a legacy sandbox domain ``<domain>--<sandbox>.my.salesforce.com`` mean test;
    ``login.`` and other ``*.salesforce.com`` hosts mean login. Any other host (an
    Experience Cloud site, a custom domain) is used as given, which is right only for a
    site: SALESFORCE_JWT_AUDIENCE settles it.
    """
    if configured:
        return configured
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(
            (".sandbox.my.salesforce.com", ".scratch.my.salesforce.com")) or (
            host.endswith(".my.salesforce.com") and "--" in host.split(".", 1)[0]):
        return TEST_AUDIENCE
    if host == "login.salesforce.com" or host.endswith(".salesforce.com"):
        return LOGIN_AUDIENCE
    return login_url.rstrip("/")


def build_assertion(settings: Settings, now: float | None = None) -> str:
    """The signed RS256 JWT for the bearer flow.

    Raises:
        ConfigurationError: the private key or username is missing or unusable.
    """
    if settings.SALESFORCE_PRIVATE_KEY is None or not settings.SALESFORCE_USERNAME:
        raise ConfigurationError("JWT login needs SALESFORCE_PRIVATE_KEY and "
                                 "SALESFORCE_USERNAME", system=SYSTEM, code="SETTINGS")
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.SALESFORCE_CLIENT_ID,
        "sub": settings.SALESFORCE_USERNAME,
        "aud": jwt_audience(settings.SALESFORCE_LOGIN_URL,
                            settings.SALESFORCE_JWT_AUDIENCE),
        "exp": issued + ASSERTION_LIFETIME,
    }
    try:
        return jwt.encode(claims, settings.SALESFORCE_PRIVATE_KEY.get_secret_value(),
                          algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # the exception text never holds key material, only the parser's complaint
        raise ConfigurationError(
            f"SALESFORCE_PRIVATE_KEY could not be used to sign the login JWT "
            f"({type(exc).__name__}); expected an RSA private key in PEM form",
            system=SYSTEM, code="SETTINGS") from None


def _token_request(settings: Settings) -> dict[str, str]:
    if settings.SALESFORCE_PRIVATE_KEY is not None:
        return {"grant_type": JWT_GRANT, "assertion": build_assertion(settings)}
    if settings.SALESFORCE_CLIENT_SECRET is None:
        raise ConfigurationError("set SALESFORCE_PRIVATE_KEY (JWT bearer) or "
                                 "SALESFORCE_CLIENT_SECRET (client credentials)",
                                 system=SYSTEM, code="SETTINGS")
    return {"grant_type": "client_credentials", "client_id": settings.SALESFORCE_CLIENT_ID,
            "client_secret": settings.SALESFORCE_CLIENT_SECRET.get_secret_value()}


def fetch_token(settings: Settings) -> Token:
    """Log in at ``{SALESFORCE_LOGIN_URL}/services/oauth2/token``.

    Raises:
        ConfigurationError: Salesforce refused the credentials; the message says what to
            check (Connected App, certificate, pre-authorisation, login URL).
        RetriableError: no answer, a timeout, or a 5xx/429 from the login host.
        FatalError: a 200 answer without a token or instance URL.
    """
    login_url = settings.SALESFORCE_LOGIN_URL
    url = f"{login_url}/services/oauth2/token"
    data = _token_request(settings)
    failure = None
    try:
        # closed on leaving the block: a live response would keep its connection open
        with requests.post(url, data=data, timeout=settings.SALESFORCE_TIMEOUT,
                           headers={"Accept": "application/json"}) as response:
            status, headers, text = response.status_code, response.headers, response.text
    except requests.RequestException as exc:
        failure = translate_request_exception(exc, _LOGIN)
    if failure is not None:
        raise failure  # outside the handler, so the request's exception is not chained
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if status != 200:
        audience = jwt_audience(login_url, settings.SALESFORCE_JWT_AUDIENCE)
        raise classify_login_failure(status, body, login_url, headers,
                                     audience=audience if "assertion" in data else None)
    if not isinstance(body, dict) or not body.get("access_token") or not body.get("instance_url"):
        raise FatalError(f"login at {login_url} answered 200 without access_token and "
                         "instance_url", system=SYSTEM, status=200, code="UNEXPECTED_RESPONSE")
    log.info("logged in to Salesforce at %s (%s flow, instance %s)", login_url,
             data["grant_type"].rsplit(":", 1)[-1], body["instance_url"])
    return Token(instance_url=str(body["instance_url"]).rstrip("/"),
                 access_token=str(body["access_token"]),
                 identity_url=str(body["id"]) if body.get("id") else None)
