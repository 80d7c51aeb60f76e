"""The Salesforce sandbox: state plus the ASGI app that serves it.

Routes: ``POST /services/oauth2/token``; ``/services/oauth2/authorize`` (the login page
of the web-server flow) and ``/services/oauth2/userinfo`` (``web_login.py``);
``GET /services/data/``; everything under
``/services/data/vXX.X/`` (see ``api.py`` and ``composite.py``), which needs a Bearer
token and carries ``Sforce-Limit-Info``; control routes under ``/__sandbox__/`` (no
auth, not counted, never faulted): ``faults`` (see ``sandbox.faults``),
``expire-sessions``, ``required-fields`` (POST ``{"object": …, "fields": […]}``; DELETE
``required-fields/{object}/{field}`` unticks it again), ``stats``, ``reset-stats``,
``api-usage`` (POST ``{"calls": n or null, "seconds": s}``: another app spends ``calls``
of the daily limit, all that remain by default, for ``s`` seconds; see ``usage.py``),
``records/{object}/{id}`` (PATCH, DELETE: an admin's edit), ``writes`` (record writes
per client), ``outbound`` (outbound message rules and deliveries, see ``outbound.py``),
``assignment-rule`` and ``duplicate-rule`` (GET the org's Lead rules; POST ``{"active":
true, "action": "Block"}`` switches one, see ``org_rules.py``), ``people`` (POST
``{"username", "password", "permission_sets"}``: a user who signs in on the login page)
and ``callback-urls`` (POST ``{"url"}``: a Callback URL of the Connected App).

Writes through the API are the integration user's, with the client its
``Sforce-Call-Options`` header names; :meth:`SalesforceSandbox.edit` and the ``records``
route write as another user, an admin in the UI (no client).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import FaultInjector, reset_connection
from sandbox.salesforce import api, composite
from sandbox.salesforce.auth import Auth, OAuthError
from sandbox.salesforce.authors import Actor, client_of
from sandbox.salesforce.errors import DEFAULT_CODES, SalesforceError, dumps, not_found
from sandbox.salesforce.ids import IdFactory
from sandbox.salesforce.org_rules import OrgRules
from sandbox.salesforce.outbound import OutboundMessenger
from sandbox.salesforce.record_faults import record_fault_answer
from sandbox.salesforce.request_size import RequestSizeLimit
from sandbox.salesforce.schema import Schema
from sandbox.salesforce.store import Store
from sandbox.salesforce.usage import ApiUsage
from sandbox.salesforce.web_login import PageError, WebLogin, error_page, login_page

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json;charset=UTF-8"
DATA_PREFIX = "/services/data/v"
CONTROL_PREFIX = "/__sandbox__"


class RequiredFields(BaseModel):
    """Body of ``POST /__sandbox__/required-fields``."""

    object: str
    fields: list[str]


class RuleSwitch(BaseModel):
    """Body of ``POST /__sandbox__/assignment-rule`` and ``/duplicate-rule``: an admin
    switching the Lead rule on or off (``action``: the duplicate rule's Allow or Block)."""

    active: bool
    action: Literal["Allow", "Block"] | None = None


class PersonSpec(BaseModel):
    """Body of ``POST /__sandbox__/people``: a user who signs in on the login page."""

    username: str
    password: str
    permission_sets: list[str] = []


class CallbackSpec(BaseModel):
    """Body of ``POST /__sandbox__/callback-urls``: a Callback URL of the Connected App."""

    url: str


class SpendSpec(BaseModel):
    """Body of ``POST /__sandbox__/api-usage``: ``calls`` of the daily limit (None: all
    that remain) used by another app, ageing out of the 24-hour window in ``seconds``."""

    calls: int | None = Field(default=None, ge=0)
    seconds: float = Field(gt=0)


class OutboundRuleSpec(BaseModel):
    """Body of ``POST /__sandbox__/outbound``: send ``object`` records' ``fields`` to
    ``url`` whenever one of them changes (and on create)."""

    object: str
    fields: list[str]
    url: str


class SalesforceSandbox:
    """An in-memory Salesforce org served over the REST API.

    Thread-safe: the app runs on a server thread while tests seed and inspect.
    """

    def __init__(self, *, client_id: str, username: str, public_key_pem: str | bytes,
                 client_secret: str | None = None, api_limit: int = 15000,
                 org_kind: str = "production") -> None:
        """``org_kind``: production, sandbox or scratch (the JWT audience it takes)."""
        ids = IdFactory()
        self.org_id, self.user_id = ids.new("00D"), ids.new("005")
        # A second user: the admin who loads data and edits records in the UI.
        self.admin_id = ids.new("005")
        self.admin = Actor(self.admin_id, None)
        self.schema = Schema()
        self.store = Store(self.schema, user_id=self.user_id)
        self.store.add_user(self.user_id, {"Username": username, "FirstName": "Integration",
                                           "LastName": "User", "Alias": "integ",
                                           "Email": username})
        self.store.add_user(self.admin_id, {"Username": f"admin.{username}",
                                            "FirstName": "Org", "LastName": "Admin",
                                            "Alias": "admin", "Email": username})
        self.store.principals.update({self.user_id: "User", self.admin_id: "User"})
        # The Lead assignment rule (active) and duplicate rule (off): org_rules.py.
        self.rules = OrgRules(self.store)
        self.outbound = OutboundMessenger(self.org_id)
        self.store.authors.observe(self.outbound.notice)
        self.usage = ApiUsage(api_limit)
        self.auth = Auth(client_id=client_id, username=username, public_key_pem=public_key_pem,
                         client_secret=client_secret, org_id=self.org_id, user_id=self.user_id,
                         org_kind=org_kind)
        # People who sign in through the login page (the web-server flow): web_login.py.
        self.web_login = WebLogin(client_id)
        self.data_api = api.DataApi(self.store, self.usage)
        composite.add_routes(self.data_api)
        self.faults = FaultInjector()
        self.app = _build_app(self)

    def seed(self, sobject: str, **fields: object) -> str:
        """Insert a record as an admin's data load would (read-only fields allowed; the
        admin is its author).

        Raises:
            SalesforceError: the record breaks a validation rule.
        """
        with self.store.authors.acting_as(self.admin):
            return self.store.create(sobject, fields, trusted=True)

    def edit(self, sobject: str, record_id: str, fields: dict,
             actor: Actor | None = None) -> None:
        """Change a record as an admin in the UI would (``actor``: another author).

        Raises:
            SalesforceError: an unknown or deleted record, or values the org refuses.
        """
        with self.store.authors.acting_as(actor or self.admin):
            self.store.update(sobject, record_id, fields)

    def delete(self, sobject: str, record_id: str, actor: Actor | None = None) -> None:
        """Delete a record (to the recycle bin) as an admin would."""
        with self.store.authors.acting_as(actor or self.admin):
            self.store.delete(sobject, record_id)

    def last_writer(self, record_id: str) -> Actor | None:
        """The user and client of the record's last write."""
        return self.store.authors.last_writer(record_id)

    def writes_by_client(self) -> dict[str | None, int]:
        """Record writes so far per client name (None: no client, e.g. an admin)."""
        return dict(self.store.authors.writes_by_client())

    def describe(self, sobject: str, version: str = "62.0") -> dict | None:
        """The JSON ``GET sobjects/{sobject}/describe`` answers (without HTTP, uncounted),
        or None when the org has no such object (a 404): what mapping checks read."""
        try:
            return self.data_api.invoke(
                api.ApiRequest("GET", version, ["sobjects", sobject, "describe"])).payload
        except SalesforceError as error:
            if error.status != 404:
                raise
            return None

    def object_names(self, version: str = "62.0") -> list[str]:
        """The names ``GET sobjects/`` (describeGlobal) lists."""
        payload = self.data_api.invoke(api.ApiRequest("GET", version, ["sobjects"])).payload
        return [o["name"] for o in payload["sobjects"]]

    def records(self, sobject: str, *, include_deleted: bool = False) -> list[dict]:
        """Copies of the records of ``sobject``, oldest first."""
        return [dict(r) for r in self.store.rows(sobject, include_deleted=include_deleted)]

    @property
    def api_calls(self) -> dict[str, int]:
        """REST calls so far: ``total`` and one count per kind (query, create, upsert, ...)."""
        return self.usage.snapshot()

    def reset_counters(self) -> None:
        """Zero the counters, which also restores the daily API allowance."""
        self.usage.reset()

    def spend_api_calls(self, calls: int | None = None, *, seconds: float) -> int:
        """Another app of the org uses ``calls`` of the daily limit (None: all that remain,
        so the bridge's calls are refused with REQUEST_LIMIT_EXCEEDED); they age out of
        the rolling window after ``seconds``. Returns the calls spent."""
        return self.usage.spend(calls, seconds=seconds)

    def pass_time(self, seconds: float) -> None:
        """Move the daily limit's rolling window on by ``seconds``: calls made more than a
        day before then age out (records and sessions are untouched)."""
        self.usage.pass_time(seconds)

    def expire_sessions(self) -> None:
        """Invalidate every access token; clients must log in again."""
        self.auth.expire_all()

    def add_person(self, username: str, password: str, *,
                   permission_sets: tuple[str, ...] = ()) -> str:
        """A User of the org who signs in through the login page with ``password``,
        holding ``permission_sets`` (by Name; each made in Setup when new). Returns the
        user's id."""
        user_id = self.store.add_setup("User", {
            "Username": username, "LastName": username.split("@")[0], "Alias": "person",
            "Email": username, "IsActive": True})
        self.web_login.set_password(username, password, user_id)
        for name in permission_sets:
            found = [r["Id"] for r in self.store.rows("PermissionSet") if r["Name"] == name]
            set_id = found[0] if found else self.store.add_setup(
                "PermissionSet", {"Name": name, "Label": name.replace("_", " ")})
            self.store.add_setup("PermissionSetAssignment",
                                 {"AssigneeId": user_id, "PermissionSetId": set_id})
        return user_id

    def require_fields(self, sobject: str, names: list[str]) -> None:
        """Make fields required at run time (shown by describe, enforced on writes).

        Raises:
            KeyError: unknown object or field.
        """
        self.schema.require(sobject, names)

    def unrequire_field(self, sobject: str, name: str) -> None:
        """Undo :meth:`require_fields` for one field.

        Raises:
            KeyError: unknown object or field.
        """
        self.schema.unrequire(sobject, name)


def _render(request: Request, status: int, payload: object,
            headers: dict[str, str] | None = None) -> Response:
    if payload is None:
        return Response(status_code=status, headers=headers)
    pretty = request.headers.get("x-prettyprint", "").strip() == "1"
    return Response(dumps(payload, pretty=pretty), status_code=status, headers=headers,
                    media_type=CONTENT_TYPE)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _build_app(sandbox: SalesforceSandbox) -> FastAPI:
    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None,
                  openapi_url=None)

    def limit_headers(path: str) -> dict[str, str]:
        return {"Sforce-Limit-Info": sandbox.usage.header()} if path.startswith(
            DATA_PREFIX) else {}

    @app.middleware("http")
    async def inject_faults(request: Request, call_next):
        path = request.url.path
        if path.startswith(CONTROL_PREFIX):
            return await call_next(request)
        latency_ms, fault = sandbox.faults.pick(request.method, path)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if fault is None:
            return await call_next(request)
        if fault.reset:
            return reset_connection(request)
        if fault.race:  # the data route hands it to the write (store.upsert)
            request.state.race = True
            return await call_next(request)
        if fault.per_record:
            status, payload = record_fault_answer(fault, request.method, path,
                                                  await request.body(),
                                                  dict(request.query_params))
            log.info("record fault injected on %s %s: %s", request.method, path, fault.code)
            return _render(request, status, payload, limit_headers(path))
        code = fault.code or DEFAULT_CODES.get(fault.status, "UNKNOWN_EXCEPTION")
        if fault.status == 401:
            code = "INVALID_SESSION_ID"
        message = fault.message
        if message is None and code == "REQUIRED_FIELD_MISSING" and fault.fields:
            message = f"Required fields are missing: [{', '.join(fault.fields)}]"
        error = SalesforceError(code, message, status=fault.status, fields=fault.fields)
        log.info("fault injected on %s %s: %s", request.method, path, error)
        if path.startswith("/services/oauth2"):
            body: object = {"error": code.lower(), "error_description": error.message}
        else:
            body = [error.top_level()]
        return _render(request, fault.status, body, limit_headers(path))

    @app.exception_handler(StarletteHTTPException)
    async def framework_errors(request: Request, exc: StarletteHTTPException) -> Response:
        error = not_found() if exc.status_code == 404 else SalesforceError(
            DEFAULT_CODES.get(exc.status_code, "UNKNOWN_EXCEPTION"), str(exc.detail),
            status=exc.status_code)
        return _render(request, error.status, [error.top_level()],
                       limit_headers(request.url.path))

    @app.get("/services/oauth2/authorize")
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            sandbox.web_login.check_request(params)
        except PageError as exc:
            return HTMLResponse(error_page(exc), status_code=400)
        return HTMLResponse(login_page(params))

    @app.post("/services/oauth2/authorize")
    async def log_in(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        username, password = form.pop("username", ""), form.pop("password", "")
        try:
            target = sandbox.web_login.sign_in(form, username, password)
        except PageError as exc:
            return HTMLResponse(error_page(exc), status_code=400)
        if target is None:
            return HTMLResponse(login_page(form, failed=True), status_code=200)
        return RedirectResponse(target, status_code=302)

    @app.get("/services/oauth2/userinfo")
    async def userinfo(request: Request) -> Response:
        # Salesforce answers a bad token here with 403 and a plain "Bad_OAuth_Token"
        # (OpenID Connect UserInfo endpoint, https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_using_userinfo_endpoint.htm).
        user_id = sandbox.auth.user_of(request.headers.get("authorization"))
        users = [r for r in sandbox.store.rows("User") if r["Id"] == user_id]
        if not users:
            return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
        user, base = users[0], _base_url(request)
        return _render(request, 200, {
            "sub": f"{base}/id/{sandbox.org_id}/{user_id}", "user_id": user_id,
            "organization_id": sandbox.org_id, "preferred_username": user["Username"],
            "name": user.get("Name") or user["LastName"], "email": user["Email"],
            "active": bool(user.get("IsActive", True))})

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            if form.get("grant_type") == "authorization_code":
                user_id = sandbox.web_login.redeem(form)
                body = sandbox.auth.issue(user_id, _base_url(request), "api id openid")
            else:
                body = sandbox.auth.token(form, request.headers.get("authorization"),
                                          _base_url(request))
        except OAuthError as exc:
            return _render(request, exc.status, exc.body())
        return _render(request, 200, body)

    @app.get("/services/data")
    @app.get("/services/data/")
    async def versions(request: Request) -> Response:
        return _render(request, 200, api.versions())

    @app.api_route("/services/data/v{version}/{rest:path}",
                   methods=["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"])
    @app.api_route("/services/data/v{version}", methods=["GET"])
    async def data(request: Request, version: str, rest: str = "") -> Response:
        # Split the raw path so an encoded "/" inside an external id stays in its segment.
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw = raw.split("?", 1)[0][len(f"{DATA_PREFIX}{version}"):].strip("/")
        req = api.ApiRequest(
            method=request.method, version=version,
            segments=[unquote(s) for s in raw.split("/")] if raw else [],
            params=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(), race=getattr(request.state, "race", False))
        actor = Actor(sandbox.user_id, client_of(request.headers.get("sforce-call-options")))
        try:
            sandbox.auth.check(request.headers.get("authorization"))
            if not req.segments:
                api.check_version(version)
                response = api.ApiResponse(200, _resources(version))
            else:
                with sandbox.store.authors.acting_as(actor):
                    response = sandbox.data_api.handle(req)
        except SalesforceError as exc:
            return _render(request, exc.status, [exc.top_level()],
                           limit_headers(request.url.path))
        headers = limit_headers(request.url.path)
        return _render(request, response.status, response.payload, headers)

    app.include_router(sandbox.faults.router())
    _add_control_routes(app, sandbox)
    app.add_middleware(RequestSizeLimit)  # outermost: the front server refuses first
    return app


def _resources(version: str) -> dict:
    base = f"/services/data/v{version}"
    return {name: f"{base}/{name}" for name in
            ("sobjects", "query", "queryAll", "composite", "limits")}


def _add_control_routes(app: FastAPI, sandbox: SalesforceSandbox) -> None:
    @app.post(f"{CONTROL_PREFIX}/expire-sessions", status_code=204)
    def expire_sessions() -> None:
        sandbox.expire_sessions()

    @app.post(f"{CONTROL_PREFIX}/required-fields", status_code=204)
    def required_fields(spec: RequiredFields) -> None:
        try:
            sandbox.require_fields(spec.object, spec.fields)
        except KeyError as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @app.delete(f"{CONTROL_PREFIX}/required-fields/{{sobject}}/{{field}}", status_code=204)
    def unrequired_field(sobject: str, field: str) -> None:
        try:
            sandbox.unrequire_field(sobject, field)
        except KeyError as exc:
            raise StarletteHTTPException(404, str(exc)) from None

    @app.post(f"{CONTROL_PREFIX}/people", status_code=201)
    def add_person(spec: PersonSpec) -> dict:
        return {"id": sandbox.add_person(spec.username, spec.password,
                                         permission_sets=tuple(spec.permission_sets))}

    @app.post(f"{CONTROL_PREFIX}/callback-urls", status_code=204)
    def allow_callback(spec: CallbackSpec) -> None:
        sandbox.web_login.allow_callback(spec.url)

    @app.get(f"{CONTROL_PREFIX}/stats")
    def stats() -> dict:
        return {"api_calls": sandbox.api_calls, "used": sandbox.usage.used,
                "limit": sandbox.usage.limit, "refused": sandbox.usage.refused}

    @app.post(f"{CONTROL_PREFIX}/reset-stats", status_code=204)
    def reset_stats() -> None:
        sandbox.reset_counters()

    @app.post(f"{CONTROL_PREFIX}/api-usage")
    def spend_api_calls(spec: SpendSpec) -> dict:
        spent = sandbox.spend_api_calls(spec.calls, seconds=spec.seconds)
        return {"spent": spent, "used": sandbox.usage.used, "limit": sandbox.usage.limit}

    @app.patch(f"{CONTROL_PREFIX}/records/{{sobject}}/{{record_id}}", status_code=204)
    async def admin_edit(sobject: str, record_id: str, request: Request) -> Response:
        try:
            sandbox.edit(sobject, record_id, await request.json())
        except SalesforceError as exc:
            return _render(request, exc.status, [exc.top_level()])
        except ValueError:
            raise StarletteHTTPException(400, "the body must be a JSON object") from None
        return Response(status_code=204)

    @app.delete(f"{CONTROL_PREFIX}/records/{{sobject}}/{{record_id}}", status_code=204)
    def admin_delete(sobject: str, record_id: str, request: Request) -> Response:
        try:
            sandbox.delete(sobject, record_id)
        except SalesforceError as exc:
            return _render(request, exc.status, [exc.top_level()])
        return Response(status_code=204)

    @app.get(f"{CONTROL_PREFIX}/assignment-rule")
    @app.get(f"{CONTROL_PREFIX}/duplicate-rule")
    def org_rules() -> dict:
        return sandbox.rules.state()

    @app.post(f"{CONTROL_PREFIX}/assignment-rule")
    def switch_assignment(spec: RuleSwitch) -> dict:
        sandbox.rules.set_assignment(spec.active)
        return sandbox.rules.state()

    @app.post(f"{CONTROL_PREFIX}/duplicate-rule")
    def switch_duplicates(spec: RuleSwitch) -> dict:
        sandbox.rules.set_duplicates(spec.active, spec.action)
        return sandbox.rules.state()

    @app.get(f"{CONTROL_PREFIX}/writes")
    def writes() -> dict:
        return {str(client): n for client, n in sandbox.writes_by_client().items()}

    @app.post(f"{CONTROL_PREFIX}/outbound", status_code=201)
    def add_outbound_rule(spec: OutboundRuleSpec, request: Request) -> dict:
        obj = sandbox.schema.get(spec.object)
        unknown = [f for f in spec.fields if obj is None or obj.field(f) is None]
        if obj is None or unknown:
            raise StarletteHTTPException(400, f"unknown object or fields: {spec.object} "
                                              f"{unknown}")
        sandbox.outbound.instance_url = _base_url(request)
        rule = sandbox.outbound.add_rule(obj.name, [obj.field(f).name for f in spec.fields],
                                         spec.url)
        return {"action_id": rule.action_id}

    @app.get(f"{CONTROL_PREFIX}/outbound")
    def outbound_deliveries() -> dict:
        return {"rules": [r.__dict__ for r in sandbox.outbound.rules()],
                "deliveries": [d.__dict__ for d in sandbox.outbound.deliveries()]}

    @app.delete(f"{CONTROL_PREFIX}/outbound", status_code=204)
    def clear_outbound_rules() -> None:
        sandbox.outbound.clear()
