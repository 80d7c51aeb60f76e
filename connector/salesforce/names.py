"""The names and ids the gateway puts in URL paths, checked first (they go in unescaped)."""

from __future__ import annotations

from connector.errors import ConfigurationError, FatalError
from connector.ids import is_api_name, is_record_id
from connector.salesforce.errors import SYSTEM


def api_name(value: str, what: str = "object or field name") -> str:
    """``value`` if it is a Salesforce API name; it goes into URL paths unescaped."""
    if not is_api_name(value):
        raise ConfigurationError(f"{value!r} is not a valid Salesforce {what}",
                                 system=SYSTEM, code="INVALID_NAME")
    return value


def record_id(value: str) -> str:
    """``value`` if it is a Salesforce record id."""
    if not is_record_id(value):
        raise FatalError(f"{value!r} is not a Salesforce record id", system=SYSTEM,
                         code="MALFORMED_ID")
    return value
