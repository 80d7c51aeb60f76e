"""OAuth 2.0 token endpoint (JWT bearer and client credentials) and session checks (the
web-server flow's login page and codes: ``web_login.py``).

Errors follow Salesforce's token endpoint: HTTP 400 ``{"error", "error_description"}``.
Sessions are kept as SHA-256 digests, so a lookup never compares secrets character by
character, and the client secret is compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time

import jwt

from sandbox.salesforce.errors import SalesforceError

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The JWT audience an org takes, by the kind of org the sandbox plays: login.salesforce.com
# for production (and Developer Edition) orgs, test.salesforce.com for sandboxes and
# scratch orgs, whatever the org's My Domain; its own URL is refused like any other
# ("audience is invalid"; OAuth 2.0 JWT Bearer Flow,
# https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm, and
# the answer quoted in github.com/omniphx/forrest/issues/302). Experience Cloud sites,
# whose URL is also an audience, are not emulated.
AUDIENCES = {"production": "https://login.salesforce.com",
             "sandbox": "https://test.salesforce.com",
             "scratch": "https://test.salesforce.com"}
ORG_KINDS = tuple(AUDIENCES)
# Salesforce wants exp within about three minutes; allow five plus clock skew.
MAX_ASSERTION_LIFETIME = 300
CLOCK_SKEW = 30


class OAuthError(Exception):
    """A token-endpoint failure: ``error`` and ``description`` as Salesforce names them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


class Auth:
    """Issues and checks access tokens for one org and one integration user."""

    def __init__(self, *, client_id: str, username: str, public_key_pem: str | bytes,
                 client_secret: str | None, org_id: str, user_id: str,
                 org_kind: str = "production") -> None:
        """``org_kind``: production, sandbox or scratch, which decides the JWT audience.

        Raises:
            ValueError: an unknown org kind.
        """
        if org_kind not in AUDIENCES:
            raise ValueError(f"org_kind must be one of {', '.join(ORG_KINDS)}")
        self.org_kind = org_kind
        self._client_id = client_id
        self._username = username
        self._public_key = public_key_pem.encode() if isinstance(public_key_pem, str) \
            else public_key_pem
        self._client_secret = client_secret
        self._org_id, self._user_id = org_id, user_id
        self._sessions: dict[bytes, str] = {}  # token digest -> the user it was issued to
        self._lock = threading.Lock()

    def token(self, form: dict[str, str], authorization: str | None, base_url: str) -> dict:
        """Answer ``POST /services/oauth2/token``.

        Raises:
            OAuthError: unsupported grant, bad assertion, bad client credentials.
        """
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            self._check_assertion(form.get("assertion", ""))
        elif grant == "client_credentials":
            self._check_client(form, authorization)
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return self.issue(self._user_id, base_url)

    def issue(self, user_id: str, base_url: str, scope: str = "api") -> dict:
        """A new session for ``user_id``: the token endpoint's JSON answer."""
        access_token = f"{self._org_id[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions[_digest(access_token)] = user_id
        return {
            "access_token": access_token,
            "scope": scope,
            "instance_url": base_url,
            "id": f"{base_url}/id/{self._org_id}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }

    def user_of(self, authorization: str | None) -> str | None:
        """The user a live Bearer token was issued to, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            return self._sessions.get(_digest(token.strip()))

    def check(self, authorization: str | None) -> None:
        """Raises: SalesforceError INVALID_SESSION_ID (401) unless a live Bearer token."""
        if self.user_of(authorization) is None:
            raise SalesforceError("INVALID_SESSION_ID", status=401)

    def expire_all(self) -> None:
        """Invalidate every issued token, as a session timeout or revocation would."""
        with self._lock:
            self._sessions.clear()

    @property
    def audience(self) -> str:
        """The one JWT audience this org takes."""
        return AUDIENCES[self.org_kind]

    def _check_assertion(self, assertion: str) -> None:
        audiences = [self.audience, self.audience + "/"]
        try:
            # exp is checked below: simple-salesforce sends it as a numeric string, which
            # Salesforce accepts and PyJWT's own check rejects.
            claims = jwt.decode(assertion, self._public_key, algorithms=["RS256"],
                                audience=audiences, issuer=self._client_id,
                                options={"require": ["iss", "sub", "aud", "exp"],
                                         "verify_exp": False})
        except jwt.InvalidIssuerError:
            raise OAuthError("invalid_client_id", "client identifier invalid") from None
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError as exc:
            log.info("rejected JWT assertion: %s", exc)
            raise OAuthError("invalid_grant", "invalid assertion") from None
        try:
            expires = float(claims["exp"])
        except (TypeError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        now = time.time()
        if expires < now - CLOCK_SKEW:
            raise OAuthError("invalid_grant", "expired authorization code")
        if expires > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
            raise OAuthError("invalid_grant", "invalid assertion expiration")
        if not hmac.compare_digest(str(claims["sub"]).encode(), self._username.encode()):
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _check_client(self, form: dict[str, str], authorization: str | None) -> None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
        if self._client_secret is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        id_ok = hmac.compare_digest(client_id.encode(), self._client_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self._client_secret.encode())
        if not (id_ok and secret_ok):
            raise OAuthError("invalid_client", "invalid client credentials")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
