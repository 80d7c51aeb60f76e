"""sObject Collections (``composite/sobjects``) and the composite request (``composite``).

Collections answer 200 with one SaveResult per record, in order. With ``allOrNone`` every
write is rolled back once any record fails, and the records that would have succeeded
report ALL_OR_NONE_OPERATION_ROLLED_BACK (reference V3d). Request-level failures (bad JSON,
unknown field) fail the whole call in the top-level error shape.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.salesforce.api import ApiRequest, ApiResponse, DataApi
from sandbox.salesforce.errors import SalesforceError, not_found, record_error, rolled_back
from sandbox.salesforce.store import MultipleMatches, Store

MAX_RECORDS = 200
# "This request is available in API version 46 and later" (Upsert Records Using sObject
# Collections, https://developer.salesforce.com/docs/platform/api-rest/guide/
# resources-composite-sobjects-collections-upsert.html); before it the resource does not
# exist: 404 NOT_FOUND "The requested resource does not exist" (reference V3c's answer).
MIN_UPSERT_VERSION = 46
MAX_SUBREQUESTS = 25
# "Up to 5 of these subrequests can be sObject Collections or query operations, including
# Query and QueryAll requests" (Send Multiple Requests Using Composite,
# https://developer.salesforce.com/docs/platform/api-rest/guide/
# resources-composite-composite-post.html). The guide gives no error code for passing it:
# the emulator refuses the call as it does past 25 subrequests.
MAX_HEAVY_SUBREQUESTS = 5
# A subrequest's httpHeaders may hold "any header supported by the requested resource
# except" Accept, Authorization and Content-Type, inherited from the top-level request:
# "If you do, the top-level request fails and returns an HTTP 400 response" (Composite
# Subrequest, https://developer.salesforce.com/docs/platform/api-rest/guide/
# requests-composite.html). No error code is given: the emulator answers as it does for
# too many subrequests.
INHERITED_HEADERS = ("accept", "authorization", "content-type")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HALTED = ("The transaction was rolled back since another operation in the same transaction "
           "failed.")


def add_routes(api: DataApi) -> None:
    """Register the composite endpoints on ``api``."""
    collections = _Collections(api)
    api.routes += [
        ("POST", ("composite", "sobjects"), collections.create, "composite"),
        ("PATCH", ("composite", "sobjects"), collections.update, "composite"),
        ("DELETE", ("composite", "sobjects"), collections.delete, "composite"),
        ("PATCH", ("composite", "sobjects", "*", "*"), collections.upsert, "composite"),
        ("POST", ("composite",), _CompositeRequest(api).run, "composite"),
    ]


class _Collections:
    def __init__(self, api: DataApi) -> None:
        self.store = api.store

    def _records(self, req: ApiRequest) -> tuple[list, bool]:
        body = req.json_object()
        records = body.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SalesforceError("JSON_PARSER_ERROR", "records must be a list of objects")
        _check_size(len(records))
        return records, bool(body.get("allOrNone", False))

    def create(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        records, all_or_none = self._records(req)

        def one(record: dict) -> dict:
            sobject = (record.get("attributes") or {}).get("type")
            if not sobject or self.store.schema.get(sobject) is None:
                raise record_error("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
            return {"id": self.store.create(sobject, record), "success": True, "errors": []}
        return ApiResponse(200, self._run(records, all_or_none, one))

    def update(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        records, all_or_none = self._records(req)

        def one(record: dict) -> dict:
            record_id = next((v for k, v in record.items() if k.lower() == "id"), None)
            if not record_id:
                raise record_error("MISSING_ARGUMENT", "Id not specified in an update call")
            found = self.store.lookup(str(record_id))
            if found is None:
                raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            self.store.update(found[0].name, str(record_id), record)
            return {"id": found[1]["Id"], "success": True, "errors": []}
        return ApiResponse(200, self._run(records, all_or_none, one))

    def upsert(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        if float(req.version) < MIN_UPSERT_VERSION:
            raise not_found()
        sobject, ext_field = args
        self.store.sobject(sobject)
        records, all_or_none = self._records(req)

        repeated = _repeated_keys(self.store, sobject, ext_field, records)

        def one(record: dict) -> dict:
            value = next((v for k, v in record.items() if k.lower() == ext_field.lower()), None)
            if value is None and ext_field.lower() != "id":
                raise record_error("MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])
            if value is not None and _fold(self.store, sobject, ext_field, value) in repeated:
                # Salesforce refuses every record whose key appears twice in one call,
                # whether or not a record has it yet: "DUPLICATE_VALUE, Duplicate external
                # id specified: ABC123: [Name]" (https://salesforce.stackexchange.com/q/104048,
                # and /q/296121: the check runs over each chunk of 200 records).
                raise record_error("DUPLICATE_VALUE", "Duplicate external id specified: "
                                   f"{value}", [ext_field])
            try:
                record_id, created = self.store.upsert(sobject, ext_field, value, record,
                                                       race=req.race)
            except MultipleMatches as exc:
                raise record_error("DUPLICATE_EXTERNAL_ID", f"{exc.field}: more than one "
                                   f"record found for external id field: {exc.ids}",
                                   [exc.field]) from None
            return {"id": record_id, "success": True, "errors": [], "created": created}
        return ApiResponse(200, self._run(records, all_or_none, one))

    def delete(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        ids = [i for i in req.params.get("ids", "").split(",") if i]
        _check_size(len(ids))
        all_or_none = req.params.get("allOrNone", "false").lower() == "true"

        def one(record_id: str) -> dict:
            found = self.store.lookup(record_id)
            if found is None:
                raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            self.store.delete(found[0].name, record_id)
            return {"id": found[1]["Id"], "success": True, "errors": []}
        return ApiResponse(200, self._run(ids, all_or_none, one))

    def _run(self, items: list, all_or_none: bool, one: Callable[[object], dict]) -> list[dict]:
        results, failed = [], False
        with self.store.atomic() as tx:
            for item in items:
                try:
                    results.append(one(item))
                except SalesforceError as exc:
                    if exc.fields is None:
                        raise  # a request-level error fails the whole call
                    results.append({"success": False, "errors": [exc.save_result_error()]})
                    failed = True
            if all_or_none and failed:
                tx.rollback()
                halted = {"success": False, "errors": [rolled_back().save_result_error()]}
                results = [halted if r["success"] else r for r in results]
        return results


def _fold(store: Store, sobject: str, ext_field: str, value: object) -> str:
    """``value`` as the key's index compares it: exactly for a case-sensitive field or an
    Id, ignoring case otherwise (as the store matches upserts)."""
    field = store.sobject(sobject).field(ext_field)
    exact = field is None or field.case_sensitive or field.type in ("id", "reference")
    return str(value) if exact else str(value).casefold()


def _repeated_keys(store: Store, sobject: str, ext_field: str, records: list) -> set[str]:
    """The keys (as :func:`_fold` gives them) carried by more than one of ``records``
    (an upsert by Id is not an external id's: left to the update's own rules)."""
    seen: Counter[str] = Counter()
    if ext_field.lower() == "id":
        return set()
    for record in records:
        value = next((v for k, v in record.items() if k.lower() == ext_field.lower()), None)
        if value is not None:
            seen[_fold(store, sobject, ext_field, value)] += 1
    return {key for key, count in seen.items() if count > 1}


def _check_size(count: int) -> None:
    if count > MAX_RECORDS:
        raise SalesforceError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                              f"than {MAX_RECORDS} records into this call")


class _CompositeRequest:
    """``POST composite``: sub-requests in order, with ``@{ref.path}`` references."""

    def __init__(self, api: DataApi) -> None:
        self.api = api

    def run(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        body = req.json_object()
        subs = body.get("compositeRequest")
        if not isinstance(subs, list) or not subs or len(subs) > MAX_SUBREQUESTS:
            raise SalesforceError("INVALID_BATCH_REQUEST", "compositeRequest must hold 1 to "
                                  f"{MAX_SUBREQUESTS} sub-requests")
        heavy = sum(1 for sub in subs if isinstance(sub, dict) and _is_heavy(sub))
        if heavy > MAX_HEAVY_SUBREQUESTS:
            raise SalesforceError("INVALID_BATCH_REQUEST", "a composite request may hold "
                                  f"at most {MAX_HEAVY_SUBREQUESTS} sObject Collections or "
                                  f"query subrequests, not {heavy}")
        for sub in subs:
            named = {str(k).lower() for k in ((sub.get("httpHeaders") or {})
                                              if isinstance(sub, dict) else {})}
            if named & set(INHERITED_HEADERS):
                raise SalesforceError("INVALID_BATCH_REQUEST", "a subrequest may not set "
                                      f"{', '.join(sorted(named & set(INHERITED_HEADERS)))}"
                                      ": it inherits them from the composite request")
        all_or_none = bool(body.get("allOrNone", False))
        done: dict[str, object] = {}
        out = []
        with self.api.store.atomic() as tx:
            for sub in subs:
                ref = str(sub.get("referenceId", ""))
                try:
                    response = self.api.invoke(self._request(req, sub, done))
                except SalesforceError as exc:
                    response = ApiResponse(exc.status, [exc.top_level()])
                out.append({"body": response.payload, "httpHeaders": {},
                            "httpStatusCode": response.status, "referenceId": ref})
                if response.status < 300:
                    done[ref] = response.payload
                elif all_or_none:
                    tx.rollback()
                    halted = [{"errorCode": "PROCESSING_HALTED", "message": _HALTED}]
                    out = [o if o["httpStatusCode"] >= 300 else
                           {**o, "body": halted, "httpStatusCode": 400} for o in out]
                    out += [{"body": halted, "httpHeaders": {}, "httpStatusCode": 400,
                             "referenceId": str(s.get("referenceId", ""))}
                            for s in subs[len(out):]]
                    break
        return ApiResponse(200, {"compositeResponse": out})

    def _request(self, parent: ApiRequest, sub: dict, done: dict) -> ApiRequest:
        url = _resolve(str(sub.get("url", "")), done)
        parts = urlsplit(url)
        match = re.fullmatch(r"/services/data/v([^/]+)/(.*?)/?", parts.path)
        if not match:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist",
                                  status=404)
        headers = {**parent.headers,
                   **{k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}}
        body = _resolve(sub.get("body"), done)
        return ApiRequest(method=str(sub.get("method", "GET")).upper(),
                          version=match.group(1),
                          segments=[unquote(s) for s in match.group(2).split("/")],
                          params=dict(parse_qsl(parts.query)), headers=headers,
                          body=json.dumps(body).encode() if body is not None else b"",
                          race=parent.race)


def _is_heavy(sub: dict) -> bool:
    """A query (query, queryAll, or the next page of one) or sObject Collections
    subrequest: the kinds of which a composite request takes five."""
    path = urlsplit(str(sub.get("url", ""))).path
    match = re.fullmatch(r"/services/data/v[^/]+/(.*?)/?", path)
    rest = match.group(1) if match else ""
    return rest.split("/")[0] in ("query", "queryAll") or rest.startswith("composite/sobjects")


def _resolve(value: object, done: dict) -> object:
    """Replace ``@{ref.path}`` in strings (recursively) with values from earlier answers.

    Raises:
        SalesforceError: PROCESSING_HALTED when a reference names nothing.
    """
    if isinstance(value, dict):
        return {k: _resolve(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, done) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _lookup(whole, done)
    return _REFERENCE.sub(lambda m: str(_lookup(m, done)), value)


def _lookup(match: re.Match, done: dict) -> object:
    ref, path = match.group(1), match.group(2)
    current = done.get(ref)
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        try:
            current = current[key] if key else current[int(index)]
        except (KeyError, IndexError, TypeError):
            current = None
            break
    if current is None:
        raise SalesforceError("PROCESSING_HALTED", f"Invalid reference specified. No value "
                              f"for {match.group(0)} found in {ref}.")
    return current
