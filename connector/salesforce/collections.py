"""sObject Collections (``composite/sobjects``): many records in one request, 200 at
most; several requests in one Composite call (``composite_writes.py``).

A mixin of :class:`~connector.salesforce.gateway.SalesforceGateway`: it uses the
gateway's ``_call`` (login, in-call retries, errors translated) and ``_write_headers``
(the assignment and duplicate rule headers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

from simple_salesforce import Salesforce

from connector.chunks import chunks, chunks_apart
from connector.errors import FatalError
from connector.salesforce.composite_queries import subresponses
from connector.salesforce.composite_writes import (
    MAX_COLLECTIONS,
    CollectionRequest,
    collections_body,
)
from connector.salesforce.errors import DUPLICATE_VALUE, SYSTEM, Target, classify_response
from connector.salesforce.names import api_name as _api_name
from connector.salesforce.names import record_id as _record_id
from connector.salesforce.results import SaveResult, parse_save_results

log = logging.getLogger("connector.salesforce")

COLLECTION_SIZE = 200  # sObject Collections take at most 200 records per call


@dataclass(frozen=True)
class CollectionWrite:
    """Records of one object to write with sObject Collections: ``action`` create,
    update (each record with its ``Id``) or upsert by ``key``; ``assign``: the org's
    active assignment rule runs on them (see the gateway's docstring)."""

    action: Literal["create", "update", "upsert"]
    sobject: str
    records: Sequence[dict[str, Any]]
    key: str | None = None
    assign: bool = False


class CollectionVerbs:
    """``create_many``, ``update_many``, ``upsert_many``, and ``write_collections`` for
    several at once."""

    _call: Callable[..., Any]
    _write_headers: Callable[..., dict[str, str]]
    _http: Any

    def create_many(self, sobject: str, records: Sequence[dict[str, Any]], *,
                    assign: bool = False) -> list[SaveResult]:
        """Create records, 200 per request and five requests to a call (as
        :meth:`write_collections`), ``allOrNone: false``; one SaveResult per record
        (``assign``: run the active assignment rule on them).

        Per-record failures are in the results. Not idempotent: after a raised failure of a
        later request, the earlier requests are written.

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        return self.write_collections(
            [CollectionWrite("create", sobject, records, assign=assign)])[0]

    def update_many(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        """Update records (each with its ``Id``), 200 per request (as
        :meth:`write_collections`); one SaveResult per record.

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        return self.write_collections([CollectionWrite("update", sobject, records)])[0]

    def upsert_many(self, sobject: str, ext_field: str, records: Sequence[dict[str, Any]],
                    *, assign: bool = False) -> list[SaveResult]:
        """Upsert records by ``ext_field`` (each must carry it), 200 per request.

        ``SaveResult.created`` says which records are new. No request carries a key twice
        (Salesforce would refuse every record of it, DUPLICATE_VALUE): records of one key
        go in separate requests, in their order, so the later one updates what the earlier
        wrote. A record refused with DUPLICATE_VALUE is sent once more: an upsert of a
        new key that lost the race to another writer's insert (the unique index refused
        it) finds that record the second time; a genuine duplicate fails again, returned.
        ``assign``: run the active assignment rule, which then runs on the records updated
        too (one header per request): ask for it only when every key is new (see the
        module docstring).

        Raises:
            RetriableError, FatalError: a whole call failed.
        """
        return self.write_collections(
            [CollectionWrite("upsert", sobject, records, key=ext_field, assign=assign)])[0]

    def write_collections(self, writes: Sequence[CollectionWrite]) -> list[list[SaveResult]]:
        """Each write's SaveResults, in the order of its records. Every write is cut into
        sObject Collections requests of 200 records (an upsert's key never twice in one
        request, its records of one key in order), and the requests, in the order of
        ``writes``, go five to a Composite call (one API call for 1,000 records; see
        ``composite_writes.py``), or alone when there is one. Upserts refused as
        duplicates are sent once more (see :meth:`upsert_many`).

        Per-record failures are in the results. Creates are not idempotent: after a
        raised failure, the requests before it (and in a composite call, beside it) are
        written.

        Raises:
            RetriableError, FatalError: a whole call, or one request of a composite call,
                failed (its own error, as it would have failed alone).
        """
        results = self._write_round(writes)
        lost = [[i for i, r in enumerate(rs) if any(e.code == DUPLICATE_VALUE for e in r.errors)]
                if w.action == "upsert" else [] for w, rs in zip(writes, results, strict=True)]
        if any(lost):
            again = [replace(w, records=[w.records[i] for i in positions])
                     for w, positions in zip(writes, lost, strict=True)]
            log.info("upserts: %d records refused as duplicates, sent once more (a race "
                     "with another writer)", sum(len(p) for p in lost))
            for positions, redone, rs in zip(lost, self._write_round(again), results,
                                             strict=True):
                for i, result in zip(positions, redone, strict=True):
                    rs[i] = result
        return results

    def _write_round(self, writes: Sequence[CollectionWrite]) -> list[list[SaveResult]]:
        pieces: list[tuple[int, list[int], CollectionRequest, Target]] = []
        for n, write in enumerate(writes):
            if write.action == "update":
                for record in write.records:
                    _record_id(record.get("Id", ""))
            sobject = _api_name(write.sobject)
            path = "composite/sobjects"
            if write.action == "upsert":
                path += f"/{sobject}/{_api_name(write.key or '')}"
            headers = self._write_headers(write.assign)
            # Case folded: of two keys differing in case, a case-insensitive field holds one.
            for piece in chunks_apart(write.records, COLLECTION_SIZE,
                                      lambda r, k=write.key: _key_value(r, k) if k else None):
                body = {"allOrNone": False,
                        "records": [{**write.records[i], "attributes": {"type": sobject}}
                                    for i in piece]}
                method = "POST" if write.action == "create" else "PATCH"
                pieces.append((n, piece, CollectionRequest(method, path, body, headers),
                               Target(f"{write.action}_many", write.sobject)))
        results: list[list[SaveResult | None]] = [[None] * len(w.records) for w in writes]
        for group in chunks(pieces, MAX_COLLECTIONS):
            answers = self._send_requests([(request, target) for _, _, request, target in group],
                                          [writes[n].action == "create" for n, *_ in group])
            for (n, piece, _, _), parsed in zip(group, answers, strict=True):
                for i, result in zip(piece, parsed, strict=True):
                    results[n][i] = result
        return [[r for r in rs if r is not None] for rs in results]

    def _send_requests(self, requests: list[tuple[CollectionRequest, Target]],
                       creates: list[bool]) -> list[list[SaveResult]]:
        """The SaveResults of each request: one plain call, or one composite call."""
        if len(requests) == 1:
            (request, target), created = requests[0], creates[0]
            # creates are not safe to repeat; updates by Id and upserts by external id are
            answer = self._call(target, partial(_restful, path=request.path,
                                                method=request.method, body=request.body,
                                                headers=request.headers),
                                repeatable=not created)
            count = len(request.body["records"])
            return [parse_save_results(answer, target, count, created_default=created)]

        def send(sf: Salesforce) -> Any:
            return sf.restful("composite", method="POST",
                              json=collections_body(sf.base_url, [r for r, _ in requests]))

        objects = ", ".join(dict.fromkeys(t.sobject or "" for _, t in requests))
        answer = self._call(Target("write_many", objects), send, repeatable=not any(creates))
        try:
            answers = subresponses(answer, len(requests), prefix="w")
        except ValueError as exc:
            raise FatalError(f"composite write: {exc}", system=SYSTEM,
                             code="UNEXPECTED_RESPONSE") from None
        out = []
        for (request, target), created, (status, body) in zip(requests, creates, answers,
                                                              strict=True):
            if status >= 300:
                raise classify_response(status, body, target, self._http.last_headers)
            out.append(parse_save_results(body, target, len(request.body["records"]),
                                          created_default=created))
        return out


def _key_value(record: dict[str, Any], field: str) -> str | None:
    """The record's value of ``field`` (named in any case), case folded, or None."""
    value = next((v for k, v in record.items() if k.lower() == field.lower()), None)
    return None if value is None else str(value).casefold()


def _restful(sf: Salesforce, *, path: str, method: str, body: dict,
             headers: dict[str, str]) -> Any:
    return sf.restful(path, method=method, json=body, headers=headers)
