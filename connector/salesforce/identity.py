"""Who the bridge is in Salesforce: its org and its integration user.

The token response's ``id`` is the identity URL ``https://<login host>/id/<org id>/<user
id>``; :func:`parse_identity` reads both ids from it. The bridge needs them on the way
back: Outbound Messages of another org are refused (``OrganizationId``), and records
whose ``LastModifiedById`` is the integration user are the bridge's own writes, never
sent back to WeChat. The gateway keeps the identity URL with the session it shares
through Redis, so a process that finds a session there knows both ids without a login.

Ids are checked and compared by :mod:`connector.ids` (either form, constant time).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.ids import is_record_id


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
