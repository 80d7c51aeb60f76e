"""Save results of sObject writes, parsed from Salesforce's answers (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.errors import BridgeError, FatalError
from connector.salesforce.errors import SYSTEM, Target, classify_record_errors


@dataclass(frozen=True)
class SaveResult:
    """The outcome of one record of a write.

    ``errors`` holds the record's failures already classified (fatal, retriable,
    skippable...); they are returned, never raised, so one bad record cannot fail a batch.
    ``created`` is True when an upsert or create made a new record.
    """

    id: str | None
    success: bool
    created: bool
    errors: tuple[BridgeError, ...] = ()


def parse_save_result(item: Any, target: Target, *, created_default: bool) -> SaveResult:
    """One ``{"id", "success", "errors", "created"?}`` entry as a SaveResult.

    ``created`` is taken from the answer when present (upserts), else ``created_default``
    for a successful record (True for creates, False for updates).
    """
    if not isinstance(item, dict):
        raise _unexpected(target, item)
    success = bool(item.get("success"))
    created = item.get("created")
    if created is None:
        created = created_default and success
    errors = () if success else classify_record_errors(item.get("errors"), target)
    return SaveResult(id=item.get("id"), success=success, created=bool(created), errors=errors)


def parse_save_results(body: Any, target: Target, expected: int, *,
                       created_default: bool) -> list[SaveResult]:
    """A collection answer: one SaveResult per record sent, in the order sent.

    Raises:
        FatalError: the answer is not a list of ``expected`` results.
    """
    if not isinstance(body, list) or len(body) != expected:
        raise _unexpected(target, body)
    return [parse_save_result(item, target, created_default=created_default) for item in body]


def _unexpected(target: Target, body: Any) -> FatalError:
    shown = repr(body)[:200]
    return FatalError(f"{target.operation} {target.sobject or ''}: unexpected answer {shown}",
                      system=SYSTEM, code="UNEXPECTED_RESPONSE")
