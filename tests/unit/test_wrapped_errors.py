"""Per-record errors that wrap a transient cause, Salesforce's internal failures, and
codes the bridge does not know (connector/salesforce/errors.py, pure)."""

from __future__ import annotations

import pytest

from connector.errors import FatalError, RetriableError
from connector.salesforce.errors import Target, classify_record_errors

TARGET = Target("upsert_many", "Lead")
# Apex's wording, as an API client receives a trigger's lock failure (see
# sandbox/salesforce/record_faults.py for the source).
TRIGGER_LOCK = ("MyTrigger: execution of AfterInsert caused by: System.DmlException: Insert "
                "failed. First exception on row 0; first error: UNABLE_TO_LOCK_ROW, unable "
                "to obtain exclusive access to this record: []")
FLOW = ("We can't save this record because the “Lead Routing” process failed. Give your "
        "Salesforce admin these details. This error occurred when the flow tried to update "
        "records: FIELD_CUSTOM_VALIDATION_EXCEPTION, Region is required.")


def one(code: str, message: str):
    [error] = classify_record_errors([{"statusCode": code, "message": message,
                                       "fields": []}], TARGET)
    return error


@pytest.mark.parametrize(("code", "message", "cls", "must_contain"), [
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", TRIGGER_LOCK, RetriableError,
     "The trigger MyTrigger (AfterInsert) on Lead failed on UNABLE_TO_LOCK_ROW"),
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "MyTrigger: execution of BeforeInsert caused "
     "by: System.NullPointerException: Attempt to de-reference a null object", FatalError,
     "The trigger MyTrigger (BeforeInsert) on Lead refused the record"),
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", FLOW, FatalError,
     "The flow or process “Lead Routing” on Lead refused the record"),
    ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you "
     "contact support: 1968714032-21455 (-1510418543)", RetriableError, "ErrorId"),
    ("BRAND_NEW_CODE", "something {odd}", FatalError,
     "Salesforce answered an error code the bridge does not know: BRAND_NEW_CODE"),
])
def test_wrapped_and_unknown_codes(code, message, cls, must_contain):
    error = one(code, message)
    assert type(error) is cls
    assert error.code == code
    assert must_contain in str(error)
    assert message in str(error)  # Salesforce's own words stay in the reason
