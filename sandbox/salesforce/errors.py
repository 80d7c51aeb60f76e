"""Salesforce's error shapes, and its JSON layout.

Two shapes, as the reference vectors V3a–V3d show: a top-level REST error array
``[{"message", "errorCode"[, "fields"]}]`` for a failed request, and
``{"statusCode", "message", "fields"}`` inside a SaveResult of a collection call.
"""

from __future__ import annotations

import json

ROLLED_BACK_MESSAGE = ("Record rolled back because not all records were valid and the "
                       "request was using AllOrNone header")
NOT_FOUND_MESSAGE = "The requested resource does not exist"
# The default error code for a status that a fault names without a code.
DEFAULT_CODES = {
    400: "BAD_REQUEST", 401: "INVALID_SESSION_ID", 403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND", 409: "UNABLE_TO_LOCK_ROW", 500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE", 503: "SERVER_UNAVAILABLE",
}
DEFAULT_MESSAGES = {
    "INVALID_SESSION_ID": "Session expired or invalid",
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable. Please try again later.",
    "NOT_FOUND": NOT_FOUND_MESSAGE,
}


class SalesforceError(Exception):
    """A failure Salesforce would report; ``fields`` None means the shape has no list."""

    def __init__(self, code: str, message: str | None = None, *, status: int = 400,
                 fields: list[str] | None = None,
                 duplicate_result: dict | None = None) -> None:
        self.code = code
        self.message = message if message is not None else DEFAULT_MESSAGES.get(code, code)
        self.status = status
        self.fields = fields
        # A DuplicateError's details (Object Reference, "DuplicateError": an Error with
        # a duplicateResult), in both shapes below.
        self.duplicate_result = duplicate_result
        super().__init__(f"{code}: {self.message}")

    def top_level(self) -> dict:
        """One entry of a top-level REST error array (``errorCode``).

        A duplicate's entry is ``{"duplicateResult", "errorCode", "message"}``, without
        ``fields``, as real orgs answer a single-record create (the answer quoted in
        aiosalesforce's tests/test_exceptions.py, from API v54.0).
        """
        if self.duplicate_result is not None:
            return {"duplicateResult": self.duplicate_result, "errorCode": self.code,
                    "message": self.message}
        entry: dict = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = list(self.fields)
        return entry

    def save_result_error(self) -> dict:
        """One entry of a SaveResult's ``errors`` (``statusCode``), with the
        ``duplicateResult`` of a DuplicateError."""
        entry = {"statusCode": self.code, "message": self.message,
                 "fields": list(self.fields or [])}
        if self.duplicate_result is not None:
            entry["duplicateResult"] = self.duplicate_result
        return entry


def record_error(code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    """A DML error about one record: these always carry a ``fields`` list."""
    return SalesforceError(code, message, fields=list(fields or []))


def not_found() -> SalesforceError:
    return SalesforceError("NOT_FOUND", NOT_FOUND_MESSAGE, status=404)


def rolled_back() -> SalesforceError:
    return record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE)


def dumps(payload: object, *, pretty: bool) -> bytes:
    """Serialise like Salesforce: compact, or (for ``X-PrettyPrint: 1``) Jackson's default
    pretty printer: ``" : "`` separators, two-space indents per object level, arrays inline
    as ``[ a, b ]``, and ``[ ]`` / ``{ }`` when empty."""
    if not pretty:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _pretty(payload, 0).encode()


def _pretty(value: object, depth: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pad = "  " * (depth + 1)
        items = ",\n".join(f"{pad}{json.dumps(str(k), ensure_ascii=False)} : "
                           f"{_pretty(v, depth + 1)}" for k, v in value.items())
        return "{\n" + items + "\n" + "  " * depth + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        # Arrays do not indent: their elements stay at the enclosing object's level.
        return "[ " + ", ".join(_pretty(v, depth) for v in value) + " ]"
    return json.dumps(value, ensure_ascii=False)
