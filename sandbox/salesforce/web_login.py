"""The OAuth 2.0 web-server flow with PKCE: the login page people see, and its code.

What Salesforce does, and this emulator does too (OAuth 2.0 Web Server Flow for Web App
Integration, https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm;
its errors: OAuth 2.0 Authorization Errors,
https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_flow_errors.htm):

- ``GET /services/oauth2/authorize?response_type=code&client_id&redirect_uri&state
  &code_challenge&code_challenge_method=S256`` shows the login form. An unknown client id
  or a callback URL the Connected App does not list is answered on the page itself
  (``error=invalid_client_id``, ``error=redirect_uri_mismatch``), never redirected, as
  Salesforce does; a ``response_type`` other than ``code`` is ``unsupported_response_type``.
- The form posts back; a wrong username or password shows the form again ("Please check
  your username and password"); a right one redirects to ``redirect_uri?code=...&state=...``.
- ``POST /services/oauth2/token`` with ``grant_type=authorization_code``: the code is
  single-use and lives 15 minutes; ``redirect_uri`` and ``client_id`` must be the ones the
  code was issued for; with a ``code_challenge`` at authorize, ``code_verifier`` must be
  present and ``BASE64URL(SHA256(verifier))`` must equal the challenge exactly. Every
  refusal is HTTP 400 ``{"error": "invalid_grant", "error_description": ...}``
  ("invalid authorization code", "expired authorization code", "invalid code verifier"),
  ``redirect_uri_mismatch`` or ``invalid_client_id``.

Passwords and codes are kept as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from sandbox.salesforce.auth import OAuthError

CODE_SECONDS = 15 * 60  # "The authorization code is valid for 15 minutes" (the flow's page)
# The page's wording for a failed login (Salesforce's login page).
BAD_LOGIN = ("Please check your username and password. If you still can't log in, "
             "contact your Salesforce administrator.")


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    user_id: str
    expires: float


class PageError(Exception):
    """An authorize request Salesforce answers on its own page (no redirect)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class WebLogin:
    """Users who may sign in through the page, the Connected App's callback URLs, and the
    codes issued. Thread-safe."""

    def __init__(self, client_id: str) -> None:
        self._client_id = client_id
        self._passwords: dict[str, tuple[bytes, str]] = {}  # username -> (digest, user id)
        self._callbacks: set[str] = set()
        self._codes: dict[bytes, _Code] = {}
        self._lock = threading.Lock()

    def set_password(self, username: str, password: str, user_id: str) -> None:
        """Let ``username`` (the User ``user_id``) sign in with ``password``."""
        with self._lock:
            self._passwords[username.lower()] = (_digest(password), user_id)

    def allow_callback(self, url: str) -> None:
        """Add ``url`` to the Connected App's Callback URLs (exact match, as Salesforce)."""
        with self._lock:
            self._callbacks.add(url)

    def check_request(self, params: dict[str, str]) -> None:
        """Raises: PageError for what Salesforce shows on its page instead of a login."""
        if not hmac.compare_digest(params.get("client_id", "").encode(),
                                   self._client_id.encode()):
            raise PageError("invalid_client_id", "client identifier invalid")
        with self._lock:
            known = params.get("redirect_uri", "") in self._callbacks
        if not known:
            raise PageError("redirect_uri_mismatch", "redirect_uri must match configuration")
        if params.get("response_type") != "code":
            raise PageError("unsupported_response_type", "response type not supported")
        method = params.get("code_challenge_method")
        if params.get("code_challenge") and method not in (None, "", "S256"):
            raise PageError("invalid_request", "code challenge method not supported")

    def sign_in(self, params: dict[str, str], username: str, password: str) -> str | None:
        """The redirect URL with a fresh code, or None when the credentials are wrong.

        Raises:
            PageError: the request itself is refused (:meth:`check_request`).
        """
        self.check_request(params)
        with self._lock:
            known = self._passwords.get(username.strip().lower())
        given = _digest(password)
        # compared even for an unknown user, so timing says nothing about who exists
        ok = hmac.compare_digest(given, known[0] if known else _digest(secrets.token_hex()))
        if not (ok and known):
            return None
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[_digest(code)] = _Code(
                params["client_id"], params["redirect_uri"],
                params.get("code_challenge") or None, known[1], time.time() + CODE_SECONDS)
        query = {"code": code}
        if params.get("state"):
            query["state"] = params["state"]
        return f"{params['redirect_uri']}?{urlencode(query)}"

    def redeem(self, form: dict[str, str]) -> str:
        """The user id a ``grant_type=authorization_code`` request's code was issued for.

        Raises:
            OAuthError: any refusal, in Salesforce's words (see the module docstring).
        """
        with self._lock:  # single use: a second redemption finds nothing
            issued = self._codes.pop(_digest(form.get("code", "")), None)
        if issued is None:
            raise OAuthError("invalid_grant", "invalid authorization code")
        if not hmac.compare_digest(form.get("client_id", "").encode(),
                                   issued.client_id.encode()):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if form.get("redirect_uri", "") != issued.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        if issued.expires < time.time():
            raise OAuthError("invalid_grant", "expired authorization code")
        if issued.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not hmac.compare_digest(s256(verifier).encode(),
                                                       issued.challenge.encode()):
                raise OAuthError("invalid_grant", "invalid code verifier")
        return issued.user_id


def login_page(params: dict[str, str], *, failed: bool = False) -> str:
    """The emulator's login form, carrying the authorize parameters along."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items())
    error = f'<p id="error" role="alert">{html.escape(BAD_LOGIN)}</p>' if failed else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Login | Salesforce
(emulator)</title><style>body{{font-family:sans-serif;max-width:22em;margin:4em auto}}
label,input{{display:block;width:100%;margin:.3em 0}}#error{{color:#b00}}</style></head>
<body><h1>Salesforce (emulator)</h1>{error}
<form method="post" action="/services/oauth2/authorize">{hidden}
<label for="username">Username</label><input id="username" name="username" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password">
<button id="Login" type="submit">Log In</button></form></body></html>"""


def error_page(error: PageError) -> str:
    """The page Salesforce shows for an authorize request it refuses."""
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Error</title></head>"
            f"<body><p>error={html.escape(error.error)}&amp;error_description="
            f"{html.escape(error.description)}</p></body></html>")
