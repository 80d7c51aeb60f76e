"""sObject Collections (``composite/sobjects``): many records in one call, 200 at most.

A mixin of :class:`~connector.salesforce.gateway.SalesforceGateway`: it uses the
gateway's ``_call`` (login, in-call retries, errors translated) and ``_write_headers``
(the assignment and duplicate rule headers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from connector.chunks import chunks_apart
from connector.salesforce.errors import DUPLICATE_VALUE, Target
from connector.salesforce.names import api_name as _api_name
from connector.salesforce.names import record_id as _record_id
from connector.salesforce.results import SaveResult, parse_save_results

log = logging.getLogger("connector.salesforce")

COLLECTION_SIZE = 200  # sObject Collections take at most 200 records per call


class CollectionVerbs:
    """``create_many``, ``update_many``, ``upsert_many``."""

    _call: Callable[..., Any]
    _write_headers: Callable[..., dict[str, str]]

    def create_many(self, sobject: str, records: Sequence[dict[str, Any]], *,
                    assign: bool = False) -> list[SaveResult]:
        """Create records, 200 per call, ``allOrNone: false``; one SaveResult per record
        (``assign``: run the active assignment rule on them).

        Per-record failures are in the results. Not idempotent: after a raised failure of a
        later chunk, the earlier chunks are written.

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        return self._collection("POST", "composite/sobjects", Target("create_many", sobject),
                                records, created=True, assign=assign)

    def update_many(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        """Update records (each with its ``Id``), 200 per call; one SaveResult per record.

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        for record in records:
            _record_id(record.get("Id", ""))
        return self._collection("PATCH", "composite/sobjects", Target("update_many", sobject),
                                records, created=False)

    def upsert_many(self, sobject: str, ext_field: str, records: Sequence[dict[str, Any]],
                    *, assign: bool = False) -> list[SaveResult]:
        """Upsert records by ``ext_field`` (each must carry it), 200 per call.

        ``SaveResult.created`` says which records are new. No call carries a key twice
        (Salesforce would refuse every record of it, DUPLICATE_VALUE): records of one key
        go in separate calls, in their order, so the later one updates what the earlier
        wrote. A record refused with DUPLICATE_VALUE is sent once more: an upsert of a
        new key that lost the race to another writer's insert (the unique index refused
        it) finds that record the second time; a genuine duplicate fails again, returned.
        ``assign``: run the active assignment rule, which then runs on the records updated
        too (one header per call): ask for it only when every key is new (see the module
        docstring).

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        path = f"composite/sobjects/{_api_name(sobject)}/{_api_name(ext_field)}"
        target = Target("upsert_many", sobject)
        results = self._collection("PATCH", path, target, records, created=False,
                                   key=ext_field, assign=assign)
        lost = [i for i, r in enumerate(results)
                if any(e.code == DUPLICATE_VALUE for e in r.errors)]
        if lost:
            log.info("upsert_many %s: %d records refused as duplicates, sent once more "
                     "(a race with another writer)", sobject, len(lost))
            again = self._collection("PATCH", path, target, [records[i] for i in lost],
                                     created=False, key=ext_field, assign=assign)
            for i, result in zip(lost, again, strict=True):
                results[i] = result
        return results

    def _collection(self, method: str, path: str, target: Target,
                    records: Sequence[dict[str, Any]], *, created: bool,
                    key: str | None = None, assign: bool = False) -> list[SaveResult]:
        """One call per 200 records, ``key`` (an upsert's field) never twice in a call;
        the results in the order of ``records``."""
        sobject = _api_name(target.sobject or "")
        results: list[SaveResult | None] = [None] * len(records)
        headers = self._write_headers(assign)
        # Case folded: of two keys differing in case, a case-insensitive field holds one.
        pieces = chunks_apart(records, COLLECTION_SIZE,
                              lambda r: _key_value(r, key) if key else None)
        for piece in pieces:
            chunk = [records[i] for i in piece]
            body = {"allOrNone": False,
                    "records": [{**r, "attributes": {"type": sobject}} for r in chunk]}
            # creates are not safe to repeat; updates by Id and upserts by external id are
            answer = self._call(target, partial(_restful, path=path, method=method, body=body,
                                                headers=headers), repeatable=not created)
            parsed = parse_save_results(answer, target, len(chunk), created_default=created)
            for i, result in zip(piece, parsed, strict=True):
                results[i] = result
        return [r for r in results if r is not None]


def _key_value(record: dict[str, Any], field: str) -> str | None:
    """The record's value of ``field`` (named in any case), case folded, or None."""
    value = next((v for k, v in record.items() if k.lower() == field.lower()), None)
    return None if value is None else str(value).casefold()


def _restful(sf: Salesforce, *, path: str, method: str, body: dict,
             headers: dict[str, str]) -> Any:
    return sf.restful(path, method=method, json=body, headers=headers)
