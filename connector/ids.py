"""Salesforce's names and record Ids: what a well-formed one looks like, and how the two
forms of an Id compare. Pure; the one place these patterns are written.

A record Id comes in two forms: 15 characters, case-sensitive, and 18, the same plus a
3-character checksum of the first 15's capitals (so it survives case-insensitive tools).
The first three characters name the object (``701`` Campaign, ``00Q`` Lead...). An API
name (``Lead``, ``WeChat_OpenId__c``) is a letter, then letters, digits and underscores:
it goes into URL paths and SOQL unescaped, so everything the bridge puts there is checked
with :func:`is_api_name` first.
"""

from __future__ import annotations

import hmac
import re
import string

# Private, and matched whole (fullmatch): ``re.match`` with "$" lets a trailing newline
# through, and without it a prefix.
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
CAMPAIGN_PREFIX = "701"  # every org's Campaign Ids start so
_CHECKSUM_ALPHABET = string.ascii_uppercase + "012345"


def is_record_id(value: object) -> bool:
    """True for a well-formed 15- or 18-character Salesforce Id."""
    return isinstance(value, str) and _RECORD_ID.fullmatch(value) is not None


def is_campaign_id(value: object) -> bool:
    """True for a well-formed Campaign Id (prefix ``701``)."""
    return is_record_id(value) and str(value).startswith(CAMPAIGN_PREFIX)


def is_api_name(value: object) -> bool:
    """True for a Salesforce API name (an object or field name)."""
    return isinstance(value, str) and _API_NAME.fullmatch(value) is not None


def short_id(value: str) -> str:
    """The case-sensitive 15-character form of a 15- or 18-character Id (what the bridge
    keys its Redis entries and comparisons by: Salesforce answers 18, scenes carry 15)."""
    return value[:15]


def same_id(a: str | None, b: str | None) -> bool:
    """True when ``a`` and ``b`` are the same Salesforce Id, in either form (compared in
    constant time: one of them may be a secret-ish org id from a request)."""
    if not (is_record_id(a) and is_record_id(b)):
        return False
    return hmac.compare_digest(short_id(a).encode(), short_id(b).encode())


def id18(value: str) -> str:
    """The 18-character form of a 15- or 18-character Id.

    Raises:
        ValueError: not a record Id, or an 18-character one whose checksum does not match
            its first 15 characters; the message says which.
    """
    value = (value or "").strip()
    if not is_record_id(value):
        raise ValueError(f"{value!r} is not a Salesforce record Id (15 or 18 letters and "
                         "digits, e.g. 7015g00000AbCdEAAZ)")
    id15 = short_id(value)
    suffix = "".join(
        _CHECKSUM_ALPHABET[sum(1 << i for i, ch in enumerate(id15[start:start + 5])
                               if ch.isupper())]
        for start in range(0, 15, 5))
    if len(value) == 18 and value[15:].upper() != suffix:
        raise ValueError(f"{value!r} is not a Salesforce record Id: its last three "
                         "characters do not match the first fifteen")
    return id15 + suffix
