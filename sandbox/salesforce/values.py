"""Field values: parsing what clients send and the canonical forms the sandbox stores.

Stored forms match what Salesforce returns: text as ``str``, checkboxes as ``bool``,
dates as ``YYYY-MM-DD``, datetimes as ``2024-01-01T00:00:00.000+0000`` (UTC), ids in
their 18-character form.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone

from sandbox.salesforce import ids
from sandbox.salesforce.errors import SalesforceError, record_error
from sandbox.salesforce.schema import TEXT_TYPES, Field

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_JAVA_TYPES = {"boolean": "boolean", "int": "int", "double": "double", "date": "date",
               "datetime": "datetime"}


def parse_datetime(text: str, *, require_zone: bool = False) -> datetime | None:
    """An aware UTC datetime from the ISO forms Salesforce accepts, or None.

    A bare date means midnight UTC; a missing zone means UTC unless ``require_zone``.
    """
    match = _DATETIME.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is not None and zone is None and require_zone:
        return None
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(sign * offset)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), micros, tzinfo=tz)
    except ValueError:
        return None
    return moment.astimezone(UTC)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if len(text.strip()) >= 10 else None
    except ValueError:
        return None


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def now() -> str:
    return format_datetime(datetime.now(UTC))


def _parser_error(field: Field, raw: object) -> SalesforceError:
    kind = "VALUE_STRING" if isinstance(raw, str) else "VALUE_" + type(raw).__name__.upper()
    return SalesforceError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {_JAVA_TYPES.get(field.type, 'string')} from "
        f"{kind} value {raw} or request may be missing a required field",
    )


def coerce(field: Field, raw: object) -> object:
    """The stored form of ``raw`` written to ``field``.

    References are only checked for form here; whether they exist is the store's business.

    Raises:
        SalesforceError: JSON_PARSER_ERROR (wrong type, request-level), or a record error:
            STRING_TOO_LONG, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST,
            INVALID_EMAIL_ADDRESS, FIELD_INTEGRITY_EXCEPTION (malformed reference).
    """
    if raw is None:
        return False if field.type == "boolean" else None
    if isinstance(raw, dict | list):
        raise _parser_error(field, raw)
    kind = field.type
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _parser_error(field, raw)
    if kind in ("int", "double"):
        return _number(field, raw)
    if kind == "date":
        day = parse_date(raw) if isinstance(raw, str) else None
        if day is None:
            raise _parser_error(field, raw)
        return day.isoformat()
    if kind == "datetime":
        moment = parse_datetime(raw) if isinstance(raw, str) else None
        if moment is None:
            raise _parser_error(field, raw)
        return format_datetime(moment)
    if kind in ("reference", "id"):
        normal = ids.normalize(raw)
        if normal is None:
            raise record_error("FIELD_INTEGRITY_EXCEPTION",
                               f"{field.label}: id value of incorrect type: {raw}", [field.name])
        return normal
    return _text(field, raw)


def _number(field: Field, raw: object) -> int | float:
    if isinstance(raw, bool):
        raise _parser_error(field, raw)
    try:
        number = float(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise _parser_error(field, raw) from None
    if not isinstance(number, int | float) or not math.isfinite(number):
        raise _parser_error(field, raw)
    if field.type == "int":
        if number != int(number):
            raise _parser_error(field, raw)
        return int(number)
    return float(number)


def _text(field: Field, raw: object) -> str:
    value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    if field.type not in TEXT_TYPES:
        return value
    if field.length and len(value) > field.length:
        raise record_error("STRING_TOO_LONG", f"{field.label}: data value too large: {value} "
                           f"(max length={field.length})", [field.name])
    if field.type == "picklist" and field.restricted and value not in field.picklist:
        raise record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{field.label}: bad value for restricted picklist field: {value}",
                           [field.name])
    if field.type == "email" and value and not _EMAIL.fullmatch(value):
        raise record_error("INVALID_EMAIL_ADDRESS",
                           f"{field.label}: invalid email address: {value}", [field.name])
    return value or None
