"""Faults that fail the records of a write, not the request (see ``sandbox.faults``).

A ``per_record`` fault answers as Salesforce does when the records themselves are refused
(a customer's trigger or flow failed, an internal error): a collection call answers 200
with every record failing with the fault's code, a single-record call answers 400 with it
in the top-level shape. Nothing is written.
"""

from __future__ import annotations

import json

from sandbox.faults import Fault
from sandbox.salesforce.errors import SalesforceError, record_error

# A customer's trigger turning a lock into its own failure: the wording is Apex's
# DmlException as an API client receives it ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY,
# WE_MasterOpportunityTrigger: execution of AfterInsert caused by: System.DmlException:
# Upsert failed. First exception on row 0; first error: UNABLE_TO_LOCK_ROW, unable to
# obtain exclusive access to this record: [] ...", https://life-improver.com/salesforce/
# salesforce-unable-to-obtain-exclusive-access-to-this-record-error-occuring-sporadically-
# when-unit-test-run/).
TRIGGER_LOCK = ("WeChatFollowerTrigger: execution of AfterInsert caused by: "
                "System.DmlException: Insert failed. First exception on row 0; first error: "
                "UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record: [] "
                "Trigger.WeChatFollowerTrigger: line 12, column 1")
# "UNKNOWN_EXCEPTION: An unexpected error occurred. Please include this ErrorId if you
# contact support: 1234567890-12345 (1234567890)"
# (https://salesforcedictionary.com/errors/unknown-exception-unexpected-error).
UNKNOWN = ("An unexpected error occurred. Please include this ErrorId if you contact "
           "support: 1968714032-21455 (-1510418543)")
RECORD_MESSAGES = {"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": TRIGGER_LOCK,
                   "UNKNOWN_EXCEPTION": UNKNOWN}


def record_fault_answer(fault: Fault, method: str, path: str, body: bytes,
                        params: dict[str, str]) -> tuple[int, object]:
    """(status, payload) of a write whose records ``fault`` refuses."""
    code = str(fault.code)
    error = record_error(code, fault.message or RECORD_MESSAGES.get(code, code),
                         fault.fields)
    if "/composite/sobjects" not in path:
        return 400, [SalesforceError(code, error.message, fields=error.fields).top_level()]
    count = len([i for i in params.get("ids", "").split(",") if i]) if method == "DELETE" \
        else _record_count(body)
    return 200, [{"success": False, "errors": [error.save_result_error()]}] * count


def _record_count(body: bytes) -> int:
    try:
        records = json.loads(body or b"null").get("records")
    except (ValueError, AttributeError):
        return 0
    return len(records) if isinstance(records, list) else 0
