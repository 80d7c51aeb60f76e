"""The data API (``/services/data/vXX.X/...``) as plain request → response functions.

Kept free of the web framework so that a composite request can run its sub-requests
through the very same handlers (``invoke``), while a top-level call also goes through
the API-call accounting (``handle``).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sandbox.salesforce import describe, soql, soql_eval
from sandbox.salesforce.errors import SalesforceError, not_found
from sandbox.salesforce.ids import IdFactory
from sandbox.salesforce.org_rules import RequestOptions, api_request
from sandbox.salesforce.store import MultipleMatches, Store
from sandbox.salesforce.usage import ApiUsage

MIN_VERSION, MAX_VERSION = 31, 64
DEFAULT_BATCH, MIN_BATCH = 2000, 200
_MAX_CURSORS = 200
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class ApiRequest:
    """One data-API call; ``segments`` are the decoded path parts after the version."""

    method: str
    version: str
    segments: list[str]
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case
    body: bytes = b""
    race: bool = False  # a race fault: another transaction creates new upserted keys first

    def json(self) -> object:
        """Raises: SalesforceError JSON_PARSER_ERROR for a body that is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise SalesforceError("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None

    def json_object(self) -> dict:
        body = self.json()
        if not isinstance(body, dict):
            raise SalesforceError("JSON_PARSER_ERROR", "Cannot deserialize instance of "
                                  f"object from {type(body).__name__.upper()} value")
        return body


@dataclass
class ApiResponse:
    status: int
    payload: object = None  # None: no body (204)


Handler = Callable[[ApiRequest, list[str]], ApiResponse]


def release_label(version: int) -> str:
    """Salesforce's release name for an API version (v31.0 was Summer '14)."""
    n = version - MIN_VERSION
    return f"{('Summer', 'Winter', 'Spring')[n % 3]} '{14 + (n + 2) // 3}"


def versions() -> list[dict]:
    """``GET /services/data/``."""
    return [{"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(MIN_VERSION, MAX_VERSION + 1)]


def check_version(version: str) -> None:
    """Raises: SalesforceError NOT_FOUND (404) for a version the sandbox does not serve."""
    match = re.fullmatch(r"(\d+)\.0", version)
    if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        raise not_found()


class DataApi:
    """Routes data-API calls to handlers; ``extra_routes`` lets other modules add theirs."""

    def __init__(self, store: Store, usage: ApiUsage) -> None:
        self.store = store
        self.usage = usage
        self._cursors: OrderedDict[str, tuple[list[dict], int, str]] = OrderedDict()
        self._cursor_lock = threading.Lock()
        self._cursor_ids = IdFactory()
        # (method, pattern, handler, kind); "*" matches one segment.
        self.routes: list[tuple[str, tuple[str, ...], Handler, str]] = [
            ("GET", ("sobjects",), self._describe_global, "describe"),
            ("GET", ("sobjects", "*"), self._sobject_info, "describe"),
            ("POST", ("sobjects", "*"), self._create, "create"),
            ("GET", ("sobjects", "*", "describe"), self._describe, "describe"),
            ("GET", ("sobjects", "*", "*"), self._retrieve, "retrieve"),
            ("PATCH", ("sobjects", "*", "*"), self._update, "update"),
            ("DELETE", ("sobjects", "*", "*"), self._delete, "delete"),
            ("GET", ("sobjects", "*", "*", "*"), self._retrieve_by_external_id, "retrieve"),
            ("PATCH", ("sobjects", "*", "*", "*"), self._upsert, "upsert"),
            ("GET", ("query",), self._query, "query"),
            ("GET", ("query", "*"), self._query_more, "query"),
            ("GET", ("queryAll",), self._query, "query"),
            ("GET", ("queryAll", "*"), self._query_more, "query"),
            ("GET", ("limits",), self._limits, "limits"),
        ]

    def route(self, req: ApiRequest) -> tuple[Handler, list[str], str]:
        """Raises: SalesforceError NOT_FOUND (404) or METHOD_NOT_ALLOWED (405)."""
        check_version(req.version)
        allowed = []
        for method, pattern, handler, kind in self.routes:
            if len(pattern) != len(req.segments) or not all(
                    p in ("*", s) for p, s in zip(pattern, req.segments, strict=True)):
                continue
            if method == req.method:
                args = [s for p, s in zip(pattern, req.segments, strict=True) if p == "*"]
                return handler, args, kind
            allowed.append(method)
        if allowed:
            raise SalesforceError("METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not "
                                  f"allowed. Allowed are {','.join(allowed)}", status=405)
        raise not_found()

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Route, count against the daily limit, run.

        Raises:
            SalesforceError: in the top-level error shape (status on the error).
        """
        handler, args, kind = self.route(req)
        self.usage.charge(kind)
        with api_request(RequestOptions.of(req.version, req.headers)):
            return handler(req, args)

    def invoke(self, req: ApiRequest) -> ApiResponse:
        """Route and run without counting: for sub-requests of one counted call."""
        handler, args, _kind = self.route(req)
        with api_request(RequestOptions.of(req.version, req.headers)):
            return handler(req, args)

    # -- describe ---------------------------------------------------------------------------

    def _describe_global(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        return ApiResponse(200, describe.describe_global(self.store.schema, req.version))

    def _sobject_info(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        obj = self.store.sobject(args[0])
        return ApiResponse(200, {"objectDescribe": describe.describe_global_entry(
            obj, req.version), "recentItems": []})

    def _describe(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        return ApiResponse(200, describe.describe_sobject(self.store.sobject(args[0]),
                                                          req.version))

    # -- single records -------------------------------------------------------------------

    def _create(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        record_id = self.store.create(args[0], req.json_object())
        return ApiResponse(201, {"id": record_id, "success": True, "errors": []})

    def _record(self, req: ApiRequest, sobject: str, record_id: str) -> dict:
        obj = self.store.sobject(sobject)
        found = self.store.lookup(record_id)
        if found is None or found[0] is not obj or found[1]["IsDeleted"]:
            raise not_found()
        return found[1]

    def _retrieve(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        return self._render(req, args[0], self._record(req, args[0], args[1]))

    def _render(self, req: ApiRequest, sobject: str, record: dict) -> ApiResponse:
        obj = self.store.sobject(sobject)
        wanted = req.params.get("fields")
        names = [f.name for f in obj.fields] if not wanted else [
            self._field_name(obj, n.strip()) for n in wanted.split(",")]
        url = f"/services/data/v{req.version}/sobjects/{obj.name}/{record['Id']}"
        body = {"attributes": {"type": obj.name, "url": url}}
        body.update((n, record.get(n)) for n in names)
        return ApiResponse(200, body)

    @staticmethod
    def _field_name(obj, name: str) -> str:
        field = obj.field(name)
        if field is None:
            raise SalesforceError("INVALID_FIELD",
                                  f"No such column '{name}' on sobject of type {obj.name}")
        return field.name

    def _update(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        self._record(req, args[0], args[1])
        self.store.update(args[0], args[1], req.json_object())
        return ApiResponse(204)

    def _delete(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        self._record(req, args[0], args[1])
        self.store.delete(args[0], args[1])
        return ApiResponse(204)

    def _multiple(self, req: ApiRequest, exc: MultipleMatches) -> ApiResponse:
        return ApiResponse(300, [f"/services/data/v{req.version}/sobjects/{exc.sobject}/{i}"
                                 for i in exc.ids])

    def _retrieve_by_external_id(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        sobject, ext_field, value = args
        try:
            found = self.store.find(sobject, ext_field, value)
        except MultipleMatches as exc:
            return self._multiple(req, exc)
        if found is None:
            raise not_found()
        return self._retrieve(req, [sobject, found])

    def _upsert(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        sobject, ext_field, value = args
        try:
            record_id, created = self.store.upsert(sobject, ext_field, value, req.json_object(),
                                                   race=req.race)
        except MultipleMatches as exc:
            return self._multiple(req, exc)
        body = {"id": record_id, "success": True, "errors": [], "created": created}
        return ApiResponse(201 if created else 200, body)

    # -- queries -------------------------------------------------------------------------

    def _query(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        text = req.params.get("q")
        if not text:
            raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
        plan = soql_eval.compile_query(soql.parse(text), self.store.schema, self.store.lookup)
        include_deleted = req.segments[0] == "queryAll"
        rows = self.store.rows(plan.sobject.name, include_deleted=include_deleted)
        total, records = plan.execute(rows, req.version)
        return self._page(req, records, total, 0, self._batch_size(req))

    def _query_more(self, req: ApiRequest, args: list[str]) -> ApiResponse:
        cursor_id, _, offset = args[0].rpartition("-")
        with self._cursor_lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset.isdigit() or int(offset) > len(cursor[0]):
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator")
        records, total, _ = cursor
        return self._page(req, records, total, int(offset), cursor[2], cursor_id)

    def _page(self, req: ApiRequest, records: list[dict], total: int, start: int,
              batch: int, cursor_id: str | None = None) -> ApiResponse:
        end = start + int(batch)
        body: dict = {"totalSize": total, "done": end >= len(records)}
        if not body["done"]:
            if cursor_id is None:
                cursor_id = self._cursor_ids.new("01g")
                with self._cursor_lock:
                    self._cursors[cursor_id] = (records, total, batch)
                    while len(self._cursors) > _MAX_CURSORS:
                        self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = (f"/services/data/v{req.version}/{req.segments[0]}/"
                                      f"{cursor_id}-{end}")
        body["records"] = records[start:end]
        return ApiResponse(200, body)

    @staticmethod
    def _batch_size(req: ApiRequest) -> int:
        match = _BATCH_SIZE.search(req.headers.get("sforce-query-options", ""))
        if not match:
            return DEFAULT_BATCH
        return min(DEFAULT_BATCH, max(MIN_BATCH, int(match.group(1))))

    def _limits(self, req: ApiRequest, _args: list[str]) -> ApiResponse:
        # GET limits: {"DailyApiRequests": {"Max", "Remaining"}, ...}, Remaining being
        # what the rolling 24-hour window leaves (it is itself a counted call, refused
        # like any other once the limit is spent)
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm
        used, limit = self.usage.used, self.usage.limit
        return ApiResponse(200, {
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        })

