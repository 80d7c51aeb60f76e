"""CSRF protection: a synchronizer token kept in the signed session.

Every form the console renders carries ``csrf`` (:func:`token`), and every POST is
refused unless it sends the same value (:func:`check`, constant time). The session
cookie is also ``SameSite=Lax``, so a cross-site POST arrives without it anyway.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

KEY = "csrf"


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


def token(session: dict[str, Any]) -> str:
    """The session's token, made on first use."""
    if not session.get(KEY):
        session[KEY] = secrets.token_urlsafe(32)
    return session[KEY]


def check(session: dict[str, Any], sent: str | None) -> None:
    """Raises: CsrfRefused unless ``sent`` is the session's token."""
    expected = session.get(KEY)
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("the form's security token is missing or stale; reload the page")
