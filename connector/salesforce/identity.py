"""Who the bridge is in Salesforce: its org and its integration user.

The token response's ``id`` is the identity URL ``https://<login host>/id/<org id>/<user
id>``; :func:`parse_identity` reads both ids from it. The bridge needs them on the way
back: Outbound Messages of another org are refused (``OrganizationId``), and records
whose ``LastModifiedById`` is the integration user are the bridge's own writes, never
sent back to WeChat. The gateway keeps the identity URL with the session it shares
through Redis, so a process that finds a session there knows both ids without a login.

Salesforce ids come in two forms: 15 characters (case-sensitive) and 18 (the same plus a
3-character case checksum). :func:`same_id` compares either form with either.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def is_record_id(value: object) -> bool:
    """True for a well-formed 15- or 18-character Salesforce id."""
    return isinstance(value, str) and _ID.match(value) is not None


def short_id(value: str) -> str:
    """The case-sensitive 15-character form of a 15- or 18-character id."""
    return value[:15]


def same_id(a: str | None, b: str | None) -> bool:
    """True when ``a`` and ``b`` are the same Salesforce id, in 15- or 18-character form
    (compared in constant time: one of them may be a secret-ish org id from a request)."""
    if not (is_record_id(a) and is_record_id(b)):
        return False
    return hmac.compare_digest(short_id(a).encode(), short_id(b).encode())


@dataclass(frozen=True)
class Identity:
    """The org and the user the bridge's session belongs to (18-character ids)."""

    org_id: str
    user_id: str


def parse_identity(url: str | None) -> Identity | None:
    """The ids in a token response's identity URL (``.../id/<org>/<user>``), or None when
    it has another shape."""
    if not url:
        return None
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id" and is_record_id(parts[-2]) \
            and is_record_id(parts[-1]):
        return Identity(org_id=parts[-2], user_id=parts[-1])
    return None
