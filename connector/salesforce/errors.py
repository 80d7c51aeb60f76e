"""Salesforce failures translated into the bridge's error tree (pure: no I/O, no client).

The gateway hands every failed answer here: an HTTP status, the decoded body and the
response headers. Salesforce writes errors in two shapes, and both are accepted:

- top-level REST error arrays: ``[{"errorCode": "INVALID_TYPE", "message": "..."}]``
- per-record errors in collection results: ``{"statusCode": "...", "message": "...",
  "fields": [...]}``
- OAuth token errors: ``{"error": "invalid_grant", "error_description": "..."}``

The branch is chosen from the error code by :data:`CODE_BRANCHES` (then
:data:`PREFIX_BRANCHES`), and only when the code is unknown from the HTTP status:
429 rate-limited, 5xx retriable, other 4xx fatal. Messages name the object and fields
and, when the fix is known, say what to change; an unknown code says so. A trigger's or
flow's failure (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY) is retriable only when its message
wraps a transient code (:data:`TRANSIENT_CAUSES`), and otherwise names the trigger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connector.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)

SYSTEM = "salesforce"
DUPLICATE_VALUE = "DUPLICATE_VALUE"
DUPLICATES_DETECTED = "DUPLICATES_DETECTED"
INVALID_SESSION_ID = "INVALID_SESSION_ID"
REQUEST_ID_HEADERS = ("sforce-request-id", "x-sfdc-request-id", "x-request-id")
_ALREADY_MEMBER = re.compile(r"already a campaign member", re.IGNORECASE)
UNKNOWN_EXCEPTION = "UNKNOWN_EXCEPTION"
AUTOMATION_FAILED = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
# The codes that pass: a trigger or flow that failed on one of them (it wraps the cause in
# its own message: "MyTrigger: execution of AfterInsert caused by: System.DmlException:
# ... first error: UNABLE_TO_LOCK_ROW, ...") fails the same way and passes the same way.
TRANSIENT_CAUSES = ("UNABLE_TO_LOCK_ROW", UNKNOWN_EXCEPTION, "SERVER_UNAVAILABLE",
                    "QUERY_TIMEOUT", "REQUEST_RUNNING_TOO_LONG")
_TRANSIENT_CAUSE = re.compile(r"\b(" + "|".join(TRANSIENT_CAUSES) + r")\b")
_TRIGGER = re.compile(r"^\s*([\w.]+): execution of (\w+)")
# "We can't save this record because the “Lead Routing” process failed. Give your
# Salesforce admin these details. This error occurred when the flow tried to ..."
_FLOW = re.compile(r"the [“\"]([^”\"]+)[”\"] process failed")


@dataclass(frozen=True)
class Target:
    """What a call was about, so messages and the NOT_FOUND rule can name it.

    ``record`` is the record id or external key the call addressed, if any: NOT_FOUND on
    a named record means the record is gone (skippable); NOT_FOUND otherwise means the
    object or URL is wrong (configuration).
    """

    operation: str
    sobject: str | None = None
    record: str | None = None


@dataclass
class DuplicateMemberError(FatalError):
    """DUPLICATE_VALUE "Already a campaign member.": the membership the write wanted exists."""


@dataclass(frozen=True)
class ErrorEntry:
    """One error of a Salesforce answer, whichever key carried its code.

    A DUPLICATES_DETECTED error's ``duplicateResult`` gives ``duplicate_rule`` (its
    developer name), ``matches`` (the matching records' ids) and ``allow_save`` (False:
    the rule blocks, no header saves past it).
    """

    code: str | None
    message: str
    fields: tuple[str, ...] = ()
    duplicate_rule: str | None = None
    matches: tuple[str, ...] = ()
    allow_save: bool | None = None


# Code -> (branch, what the operator or admin should do). {obj} and {fields} are filled in.
_MAPPING_FIX = "Set {fields} for {obj} in the mapping file (objects.{obj}), or give it a default."
CODE_BRANCHES: dict[str, tuple[type[BridgeError], str]] = {
    # transient: the same call may succeed later
    "UNABLE_TO_LOCK_ROW": (RetriableError, "Another transaction holds the record; retry."),
    "SERVER_UNAVAILABLE": (RetriableError, "Salesforce is unavailable; retry later."),
    "QUERY_TIMEOUT": (RetriableError, "The query took too long; retry, or make it selective."),
    "REQUEST_RUNNING_TOO_LONG": (RetriableError, "The request ran too long; retry later."),
    # Salesforce failed inside; the same record usually goes through on a retry
    UNKNOWN_EXCEPTION: (RetriableError, "Salesforce failed internally; retry. If it keeps "
                        "failing, give Salesforce Support the ErrorId in this message."),
    # a fresh session that is refused again: session policy or a revoked app; retry is cheap
    INVALID_SESSION_ID: (RetriableError, "The session was refused even after a new login; check "
                         "the Connected App's session policies (IP relaxation, timeout)."),
    # the record was fine; another record of an all-or-none request failed
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": (RetriableError, "Rolled back because another record "
                                          "failed; this record can be sent again."),
    "REQUEST_LIMIT_EXCEEDED": (RateLimitedError, "The org's API request limit is used up; "
                               "wait, or raise the limit in Salesforce."),
    # the mapping or the org's schema must change
    "REQUIRED_FIELD_MISSING": (ConfigurationError, _MAPPING_FIX),
    "INVALID_FIELD": (ConfigurationError, "Check the field names for {obj} in the mapping file "
                      "against Setup > Object Manager > {obj} > Fields."),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (ConfigurationError, "{fields} on {obj} cannot be "
                                        "written; remove it from the mapping or check its "
                                        "field-level security for the integration user."),
    "INVALID_TYPE": (ConfigurationError, "Check the object name ({obj}) in the mapping file; "
                     "custom objects end in __c."),
    "API_DISABLED_FOR_ORG": (ConfigurationError, "Enable API access for the org and the "
                             "integration user's profile."),
    # the data of this record cannot be written as it is
    "MALFORMED_QUERY": (FatalError, "The query is malformed; check the values it was built from."),
    "INVALID_QUERY_FILTER_OPERATOR": (FatalError, "The query filter is invalid for the field."),
    "STRING_TOO_LONG": (FatalError, "Shorten {fields} on {obj} (e.g. a truncate transform in "
                        "the mapping)."),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (FatalError, "Use one of the picklist values of "
                                                "{fields} on {obj}, or add the value in Setup."),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (FatalError, "A validation rule on {obj} rejected the "
                                          "record; check the rule or the mapped values."),
    "INVALID_CROSS_REFERENCE_KEY": (FatalError, "{fields} on {obj} points at a record that "
                                    "does not exist (check campaign ids / scene strings)."),
    "FIELD_INTEGRITY_EXCEPTION": (FatalError, "{fields} on {obj} holds a value Salesforce "
                                  "refuses; check the mapped value."),
    DUPLICATE_VALUE: (FatalError, "Another {obj} record already has this value in {fields}."),
    DUPLICATES_DETECTED: (FatalError, "A duplicate rule on {obj} blocked the record."),
    "DUPLICATE_EXTERNAL_ID": (FatalError, "Several {obj} records share this external id; "
                              "merge them in Salesforce."),
    "MALFORMED_ID": (FatalError, "An id in the request is not a Salesforce id."),
    "INVALID_EMAIL_ADDRESS": (FatalError, "Fix the e-mail address in {fields}."),
    "JSON_PARSER_ERROR": (FatalError, "The request body was not valid for Salesforce."),
    # nothing to do for this record
    "ENTITY_IS_DELETED": (SkippableError, "The {obj} record was deleted in Salesforce."),
    # a customer's trigger, flow or process failed; retriable only when it wraps a
    # transient cause (see _automation_branch)
    AUTOMATION_FAILED: (FatalError, "{automation} on {obj} refused the record; fix or "
                        "deactivate it in Setup, or change the mapped values."),
}
PREFIX_BRANCHES: tuple[tuple[str, type[BridgeError], str], ...] = (
    ("INSUFFICIENT_ACCESS", ConfigurationError, "Give the integration user access to {obj} "
     "({fields}) through its profile or a permission set."),
)

# OAuth token errors: what the admin should check, by the phrase Salesforce uses.
_LOGIN_CHECKS = (
    "Check: the Connected App's Consumer Key (SALESFORCE_CLIENT_ID); the certificate "
    "uploaded to the Connected App matches SALESFORCE_PRIVATE_KEY; the integration user "
    "(SALESFORCE_USERNAME) is pre-authorised (Connected App > Manage > Edit Policies > "
    "'Admin approved users are pre-authorized', plus its profile or permission set); and "
    "SALESFORCE_LOGIN_URL is the org's login URL (test.salesforce.com or the sandbox's My "
    "Domain for sandboxes)."
)
LOGIN_HINTS: tuple[tuple[str, str], ...] = (  # first match wins: specific phrases first
    ("hasn't approved", "The integration user is not pre-authorised for the Connected App."),
    ("not admin approved", "The integration user is not pre-authorised for the Connected App."),
    ("no client credentials user", "Client credentials flow needs a 'Run As' user in the "
     "Connected App's policies, and the My Domain URL as SALESFORCE_LOGIN_URL."),
    ("audience", "The JWT's audience (aud) is not the one this org takes."),
    ("invalid assertion", "The JWT was refused: the uploaded certificate may not match the "
     "private key, or the server clock may be off."),
    ("signature", "The JWT signature was refused: upload the certificate that matches "
     "SALESFORCE_PRIVATE_KEY to the Connected App."),
    ("client", "The Consumer Key or Secret is wrong: check SALESFORCE_CLIENT_ID / "
     "SALESFORCE_CLIENT_SECRET."),
    ("user", "The user is unknown or inactive: check SALESFORCE_USERNAME."),
)


def error_entries(body: Any) -> list[ErrorEntry]:
    """The errors in a Salesforce body, accepting ``errorCode``, ``statusCode`` and OAuth."""
    if isinstance(body, Mapping):
        if "error" in body and isinstance(body["error"], str):
            return [ErrorEntry(body["error"], str(body.get("error_description") or ""))]
        if "errors" in body:
            return error_entries(body["errors"])
        body = [body]
    if not isinstance(body, list):
        text = " ".join(str(body or "").split())
        return [ErrorEntry(None, text[:300])] if text else []
    if body and all(isinstance(item, str) for item in body):
        # 300 on an external id: the body lists the matching records' URLs
        return [ErrorEntry(None, "matching records: " + ", ".join(body[:5]))]
    entries = []
    for item in body:
        if not isinstance(item, Mapping):
            continue
        code = item.get("errorCode") or item.get("statusCode")
        message = str(item.get("message") or "")
        fields = item.get("fields") or _missing_fields(message)
        entries.append(ErrorEntry(str(code) if code else None, message,
                                  tuple(str(f) for f in fields),
                                  **_duplicate_result(item.get("duplicateResult"))))
    return entries


def _duplicate_result(result: Any) -> dict[str, Any]:
    """The rule and matching ids of a DuplicateResult (``{duplicateRule, allowSave,
    matchResults: [{matchRecords: [{record: {Id}}]}]}``, Object Reference
    "DuplicateResult"); nothing for a missing or odd one."""
    if not isinstance(result, Mapping):
        return {}
    ids = [str(record["record"]["Id"])
           for match in result.get("matchResults") or () if isinstance(match, Mapping)
           for record in match.get("matchRecords") or ()
           if isinstance(record, Mapping) and isinstance(record.get("record"), Mapping)
           and record["record"].get("Id")]
    allow = result.get("allowSave")
    return {"duplicate_rule": str(result.get("duplicateRule") or "") or None,
            "matches": tuple(dict.fromkeys(ids)),
            "allow_save": allow if isinstance(allow, bool) else None}


def _duplicate_hint(entry: ErrorEntry, obj: str) -> str:
    """What to do about a record a duplicate rule refused: the rule, the records it
    matched, and how the mapping saves anyway (an Allow rule) or why it cannot (Block)."""
    rule = f"The duplicate rule {entry.duplicate_rule}" if entry.duplicate_rule \
        else "A duplicate rule"
    shown = ", ".join(entry.matches[:5]) + (f" and {len(entry.matches) - 5} more"
                                            if len(entry.matches) > 5 else "")
    found = f" matched {obj} {shown}" if entry.matches else f" refused the {obj} record"
    if entry.allow_save is False:
        fix = ("Its action is Block, which nothing in a request saves past: merge the "
               "records, or change the rule's action to Allow in Setup > Duplicate "
               "Management > Duplicate Rules and set salesforce_rules.allow_duplicates: "
               "true in the mapping file.")
    else:
        fix = ("Merge the records, or set salesforce_rules.allow_duplicates: true in the "
               "mapping file to save such records anyway (sent as Sforce-Duplicate-Rule-"
               "Header: allowSave=true, which needs SALESFORCE_API_VERSION 52.0 or "
               "later; it saves past a rule whose action is Allow).")
    return f"{rule}{found}. {fix}"


# Salesforce's own wording when a top-level error array carries no ``fields`` list.
_MISSING = re.compile(r"Required fields are missing: \[([^\]]*)\]")


def _missing_fields(message: str) -> tuple[str, ...]:
    """The field names in "Required fields are missing: [A, B]", so the failure names
    them even when Salesforce (or a proxy) sent no ``fields`` list; data, not control flow."""
    match = _MISSING.search(message)
    return tuple(f.strip() for f in match.group(1).split(",") if f.strip()) if match else ()


def header(headers: Mapping[str, str] | None, *names: str) -> str | None:
    """The first of ``names`` present in ``headers`` (case-insensitive)."""
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    return next((lowered[n] for n in names if lowered.get(n)), None)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = header(headers, "retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: not worth parsing, the queue's backoff applies
        return None


def _branch(code: str | None, status: int | None) -> tuple[type[BridgeError], str]:
    if code in CODE_BRANCHES:
        return CODE_BRANCHES[code]
    for prefix, cls, hint in PREFIX_BRANCHES:
        if code and code.startswith(prefix):
            return cls, hint
    if status == 429:
        return RateLimitedError, "Salesforce asked us to slow down."
    if status is None or status >= 500:
        # per-record errors carry no status; an unknown one is about the record's data
        if status is None:
            return FatalError, _unknown(code)
        return RetriableError, " ".join(p for p in (_unknown(code), "Retry later.") if p)
    if status == 300:
        return FatalError, "The external id matches several records; merge them in Salesforce."
    if status in (401, 403):
        return ConfigurationError, "Check the integration user's permissions."
    return FatalError, _unknown(code)


def _unknown(code: str | None) -> str:
    """What the admin should know of a code no branch names ("" without a code)."""
    if not code:
        return ""
    return (f"Salesforce answered an error code the bridge does not know: {code}; the "
            "message above is Salesforce's own. Please report the code so it can be "
            "classified.").replace("{", "{{").replace("}", "}}")


def _automation_branch(message: str) -> tuple[type[BridgeError], str]:
    """CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY: a customer's trigger, flow or process failed.
    Retriable when its message wraps a transient cause (a lock it could not get); fatal
    otherwise, naming the trigger when the message does."""
    trigger, flow = _TRIGGER.search(message), _FLOW.search(message)
    automation = (f"The trigger {trigger.group(1)} ({trigger.group(2)})" if trigger
                  else f"The flow or process “{flow.group(1)}”" if flow
                  else "A trigger, flow or process").replace("{", "{{").replace("}", "}}")
    cause = _TRANSIENT_CAUSE.search(message)
    if cause:
        return RetriableError, (f"{automation} on {{obj}} failed on {cause.group(1)}, which "
                                "passes; retry.")
    return FatalError, CODE_BRANCHES[AUTOMATION_FAILED][1].replace("{automation}", automation)


def _describe(target: Target, entry: ErrorEntry, hint: str) -> str:
    obj = target.sobject or "the object"
    fields = ", ".join(entry.fields) or "the field"
    text = entry.message.strip() or "no message"
    if hint and not text.endswith((".", "!", "?")):
        text += "."  # two sentences, not one run-on: "... [Phone]. Set Phone for Lead ..."
    parts = [f"{_subject(target)}: {text}"]
    if hint:
        parts.append(hint.format(obj=obj, fields=fields))
    return " ".join(parts)


def classify_entry(entry: ErrorEntry, target: Target, *, status: int | None = None,
                   headers: Mapping[str, str] | None = None) -> BridgeError:
    """One Salesforce error as a :class:`BridgeError` of the right branch (never raised)."""
    code = entry.code
    if code == "NOT_FOUND" or (status == 404 and code is None):
        cls, hint = ((SkippableError, "The {obj} record no longer exists.") if target.record
                     else (ConfigurationError, "Check the object name ({obj}) in the mapping "
                           "file and the API version."))
    elif code == AUTOMATION_FAILED:
        cls, hint = _automation_branch(entry.message)
    else:
        cls, hint = _branch(code, status)
    if cls is FatalError and code == DUPLICATE_VALUE and _ALREADY_MEMBER.search(entry.message):
        cls = DuplicateMemberError
    if code == DUPLICATES_DETECTED:
        # braces escaped: the hint is formatted with {obj} and {fields} below
        hint = _duplicate_hint(entry, target.sobject or "the object").replace(
            "{", "{{").replace("}", "}}")
    kwargs: dict[str, Any] = {
        "system": SYSTEM, "status": status, "code": code, "fields": list(entry.fields),
        "request_id": header(headers, *REQUEST_ID_HEADERS),
    }
    if issubclass(cls, RetriableError):
        kwargs["retry_after"] = _retry_after(headers)
    return cls(_describe(target, entry, hint), **kwargs)


def classify_response(status: int | None, body: Any, target: Target,
                      headers: Mapping[str, str] | None = None) -> BridgeError:
    """The error for a failed call (status >= 300), built from its first error entry.

    Several entries in one answer are joined into one message; the code and branch are
    those of the first, and ``fields`` is the union of all.
    """
    entries = error_entries(body) or [ErrorEntry(None, f"HTTP {status} with an empty body")]
    first = entries[0]
    if len(entries) > 1:
        fields = tuple(dict.fromkeys(f for e in entries for f in e.fields))
        message = " / ".join(e.message.strip() for e in entries if e.message.strip())
        first = replace(first, message=message, fields=fields)
    return classify_entry(first, target, status=status, headers=headers)


def classify_record_errors(errors: Any, target: Target) -> tuple[BridgeError, ...]:
    """The per-record ``errors`` list of a collection result, each as a BridgeError."""
    return tuple(classify_entry(entry, target) for entry in error_entries(errors or []))


def classify_transport(kind: str, target: Target, detail: str) -> RetriableError:
    """A call that got no answer: ``kind`` is "timeout" or "connection"."""
    what = "timed out" if kind == "timeout" else "could not reach Salesforce"
    return RetriableError(f"{_subject(target)} {what}: {detail}", system=SYSTEM,
                          code=kind.upper())


# What each gateway verb does, in an admin's words: messages reach `connector status`
# and the console, whose readers know Salesforce, not the gateway's method names.
_DOING = {
    "create": "creating a {} record", "create_many": "creating {} records",
    "update": "updating a {} record", "update_many": "updating {} records",
    "upsert": "writing a {} record", "upsert_many": "writing {} records",
    "write_many": "writing {} records",  # several objects' records in a Composite call
    "get": "reading a {} record", "query": "querying {}", "describe": "describing {}",
    "login": "signing in to Salesforce", "limits": "reading the org's API limits",
    "versions": "reading the org's API versions",
}


def _subject(target: Target) -> str:
    """``target`` as an admin reads it: "writing Lead records", "querying Contact"."""
    doing = _DOING.get(target.operation)
    if doing is None:
        return f"{target.operation} {target.sobject or ''}".strip()
    return doing.format(target.sobject or "records").replace("a records record", "records")


# What Salesforce takes as a JWT's aud, whatever the org's My Domain (OAuth 2.0 JWT
# Bearer Flow, https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm).
AUDIENCES = ("https://login.salesforce.com (production and Developer Edition orgs), "
             "https://test.salesforce.com (sandboxes and scratch orgs), or the URL of an "
             "Experience Cloud site")


def _audience_advice(audience: str) -> str:
    return (f"The JWT's audience (aud) was {audience}; Salesforce takes {AUDIENCES}. Set "
            "SALESFORCE_JWT_AUDIENCE to the one for this org.")


def classify_login_failure(status: int, body: Any, login_url: str,
                           headers: Mapping[str, str] | None = None, *,
                           audience: str | None = None) -> BridgeError:
    """A refused token request: retriable for 5xx/429, else a ConfigurationError.

    The message names the most likely cause when Salesforce's wording gives it away, and
    always lists what the admin should check. ``audience``: the JWT's aud (JWT bearer
    flow), listed with the audiences to try when Salesforce refused an ``invalid_grant``
    (a wrong audience shows as "audience is invalid", and in some orgs as "user hasn't
    approved this consumer").
    """
    entries = error_entries(body)
    entry = entries[0] if entries else ErrorEntry(None, "")
    request_id = header(headers, *REQUEST_ID_HEADERS)
    if status >= 500 or status == 429:
        cls = RateLimitedError if status == 429 else RetriableError
        return cls(f"login at {login_url} failed with HTTP {status}; retry later.",
                   system=SYSTEM, status=status, code=entry.code, request_id=request_id,
                   retry_after=_retry_after(headers))
    said = f"{entry.code or 'HTTP ' + str(status)}: {entry.message}".rstrip(": ")
    lowered = entry.message.lower()
    likely = next((hint for phrase, hint in LOGIN_HINTS if phrase in lowered), "")
    if audience is not None and entry.code == "invalid_grant":
        if "audience" in lowered:
            likely = _audience_advice(audience)
        elif "approved" in lowered:  # how a wrong audience shows in some orgs
            likely = f"{likely} Or: {_audience_advice(audience)}"
    message = " ".join(p for p in (f"Salesforce refused the login at {login_url} ({said}).",
                                   likely, _LOGIN_CHECKS) if p)
    return ConfigurationError(message, system=SYSTEM, status=status, code=entry.code,
                              request_id=request_id)


def is_duplicate_member(error: BridgeError) -> bool:
    """True when ``error`` says the CampaignMember already exists (treat as success)."""
    return isinstance(error, DuplicateMemberError)


def is_invalid_session(status: int | None, body: Any) -> bool:
    """True for the 401 INVALID_SESSION_ID answer that a new login can cure."""
    return status == 401 and any(e.code == INVALID_SESSION_ID for e in error_entries(body))
