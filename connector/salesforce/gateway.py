"""The Salesforce gateway: the bridge's verbs over simple-salesforce's REST client.

Every call logs in lazily (once per gateway, kept for the process), has a timeout, is
counted in :attr:`SalesforceGateway.api_calls`, and fails only with the bridge's error
tree. Short in-call retries (an expired session: one new login and one repeat; a lost
connection or a 5xx on a call that is safe to repeat) are decided in ``retrying.py``; a
second refusal of the session is raised.

Every write says whether the org's assignment rules run (``Sforce-Auto-Assign``: without
the header Salesforce runs the active Lead assignment rule on every API create *and
update*, so a bridge that left it out would hand a sales rep's Lead back to the queue on
each scan). Only the verbs that create take ``assign=True``; updates always send FALSE.
An sObject Collections upsert carries one header for all its records, creates and updates
alike: callers ask for ``assign`` only when every key is new (the persons no lookup
found), so the rule then runs on creates, or, if another process created one in the
meantime, once on a Lead the bridge itself created moments before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_external_id, format_soql

from connector.chunks import chunks
from connector.errors import BridgeError, ConfigurationError, FatalError
from connector.in_call import AttemptFailed, Pacing, run
from connector.metrics import record_call
from connector.salesforce.auth import fetch_token
from connector.salesforce.budget import ApiBudget
from connector.salesforce.collections import CollectionVerbs
from connector.salesforce.composite_queries import MAX_QUERIES, composite_body, subresponses
from connector.salesforce.errors import (
    DUPLICATE_VALUE,
    SYSTEM,
    Target,
    classify_response,
    is_invalid_session,
)
from connector.salesforce.http import SalesforceHTTP, translate_request_exception
from connector.salesforce.identity import Identity, parse_identity
from connector.salesforce.in_lists import URI_BUDGET, in_pieces
from connector.salesforce.limits import ApiUsage, usage_from_limits
from connector.salesforce.names import api_name as _api_name
from connector.salesforce.names import record_id as _record_id
from connector.salesforce.results import SaveResult, parse_save_result
from connector.salesforce.retrying import (
    answer_failure,
    decide,
    login_failure,
    request_failure,
)
from connector.salesforce.sessions import SessionStore
from connector.settings import Settings

log = logging.getLogger("connector.salesforce")

T = TypeVar("T")
# REST API Developer Guide, "Assignment Rule Header" and "Duplicate Rule Header".
AUTO_ASSIGN = "Sforce-Auto-Assign"
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"


def strip_attributes(value: Any) -> Any:
    """``value`` without the ``attributes`` entries Salesforce adds to every record."""
    if isinstance(value, dict):
        return {k: strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(v) for v in value]
    return value


@dataclass(frozen=True)
class InQuery:
    """A query for :meth:`SalesforceGateway.query_in_many`: ``format_soql(template,
    *args, **params)``, whose ``IN`` list ``params[split]`` may be cut into pieces."""

    template: str
    args: tuple = ()
    split: str = "values"
    params: Mapping[str, Any] = field(default_factory=dict)


class SalesforceGateway(CollectionVerbs):
    """The only door to Salesforce. Not thread-safe: one per worker process (or thread).

    Attributes:
        api_calls: REST calls sent so far (logins excluded; see ``login_calls``).
        login_calls: token requests sent so far.
        last_api_usage: ``ApiUsage(used, limit)`` daily API requests from the last
            ``Sforce-Limit-Info`` (no call: see :meth:`api_usage`).

    The sObject Collections verbs (``create_many``, ``update_many``, ``upsert_many``) are
    in :mod:`connector.salesforce.collections`.
    """

    def __init__(self, settings: Settings, *, sessions: SessionStore | None = None,
                 allow_duplicates: bool = False, budget: ApiBudget | None = None,
                 pacing: Pacing | None = None) -> None:
        """``sessions``: share the login with other processes (see ``sessions.py``).
        ``allow_duplicates``: save records a duplicate rule only alerts about (the
        mapping's ``salesforce_rules.allow_duplicates``); a Block rule still refuses.
        ``budget``: share the org's API usage of every answer (see ``budget.py``).
        ``pacing``: the in-call retries' bounds and jitter (see ``connector/in_call.py``)."""
        self._settings = settings
        self._sessions = sessions
        self.allow_duplicates = allow_duplicates
        self._pacing = pacing or Pacing()
        self._rejected: str | None = None  # the session Salesforce refused last
        self._http = SalesforceHTTP(settings.SALESFORCE_TIMEOUT,
                                    getattr(settings, "SALESFORCE_CLIENT_NAME", None))
        if budget is not None:
            self._http.on_usage = budget.observe
            # every answer is counted for /metrics and /readyz (connector/metrics.py)
            self._http.on_answer = partial(record_call, budget.redis, "salesforce")
        self._sf: Salesforce | None = None
        self._identity: Identity | None = None
        self._describes: dict[str, dict] = {}
        self.login_calls = 0

    @property
    def api_calls(self) -> int:
        return self._http.calls

    @property
    def last_api_usage(self) -> ApiUsage | None:
        return self._http.api_usage

    def close(self) -> None:
        """Release pooled connections; the gateway logs in again if used afterwards."""
        self._http.close()
        self._sf = None

    def _write_headers(self, assign: bool = False) -> dict[str, str]:
        """The headers of a write: assignment rules on (creates the caller asked for) or
        off, and the duplicate rules' allowSave when the mapping asks to save anyway."""
        headers = {AUTO_ASSIGN: "TRUE" if assign else "FALSE"}
        if self.allow_duplicates:
            headers[DUPLICATE_RULE_HEADER] = "allowSave=true"
        return headers

    # -- session -----------------------------------------------------------------------

    def _login(self, rejected: str | None = None) -> Salesforce:
        """Log in (or take the shared session), unless ``rejected``, the session
        Salesforce just refused: then drop it from the store and log in anew."""
        token = None
        if self._sessions is not None:
            if rejected:
                self._sessions.drop(rejected)
            else:
                token = self._sessions.get()
        if token is None:
            self.login_calls += 1
            token = fetch_token(self._settings)
            if self._sessions is not None:
                self._sessions.put(token)
        self._identity = parse_identity(token.identity_url) or self._identity
        self._sf = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                              version=self._settings.SALESFORCE_API_VERSION,
                              session=self._http)
        self._rejected = None
        return self._sf

    def _call(self, target: Target, fn: Callable[[Salesforce], T], *,
              repeatable: bool = False) -> T:
        """Run ``fn`` with a logged-in client, retried within the call as
        :mod:`connector.salesforce.retrying` decides; translate every failure.

        ``repeatable``: ``fn`` is safe to repeat (a read, an update by Id, an upsert by
        external id). Left False, a call is repeated only when Salesforce certainly did
        nothing with it.

        Raises:
            BridgeError: the classified failure of the last attempt (or of the login).
        """

        def attempt() -> T:
            failed: AttemptFailed | None = None
            try:
                sf = self._sf or self._login(rejected=self._rejected)
            except BridgeError as exc:
                failed = AttemptFailed(exc, login_failure(exc))
            if failed is not None:
                raise failed
            try:
                return fn(sf)
            except SalesforceError as exc:
                if is_invalid_session(exc.status, exc.content):
                    # the next attempt (or call) logs in anew and drops the shared session
                    self._sf, self._rejected = None, sf.session_id
                failed = AttemptFailed(
                    classify_response(exc.status, exc.content, target, self._http.last_headers),
                    answer_failure(exc.status, exc.content))
            except requests.RequestException as exc:
                failed = AttemptFailed(translate_request_exception(exc, target),
                                       request_failure(exc))
            # Raised outside the except blocks so it chains nothing: the library's
            # exception frames hold the response, whose socket file keeps the connection
            # open for as long as the error lives (an rq failure record, pytest.raises).
            raise failed

        return run(attempt, decide=partial(decide, repeatable=repeatable),
                   what=f"salesforce {_what(target)}", log=log, pacing=self._pacing)

    # -- reads -------------------------------------------------------------------------

    def query(self, template: str, *args: Any, keep_attributes: bool = False,
              include_deleted: bool = False, **params: Any) -> list[dict]:
        """All records of a SOQL query built by ``format_soql(template, *args, **params)``.

        Values are quoted by format_soql (``{name}``); ``{:literal}`` inserts trusted names
        only (objects, fields). Follows ``nextRecordsUrl``, one call per page.
        ``include_deleted``: ``queryAll``, which also returns deleted records (those in the
        recycle bin, with ``IsDeleted`` true).

        Raises:
            FatalError: the template and parameters do not make a query, or Salesforce
                refused it (MALFORMED_QUERY, INVALID_FIELD...).
            RetriableError: timeouts, 5xx, QUERY_TIMEOUT; RateLimitedError for limits.
        """
        records = self._records(_soql(template, args, params), include_deleted)
        return records if keep_attributes else strip_attributes(records)

    def query_in(self, template: str, *args: Any, split: str, keep_attributes: bool = False,
                 include_deleted: bool = False, **params: Any) -> list[dict]:
        """All records of a query whose ``IN`` list ``params[split]`` may be long: one
        query per piece of the list, each piece as long as Salesforce's URI limit allows
        once URL-encoded (see ``in_lists.py``), so long values (emails) make more queries
        and short ones (ids) fewer; several queries are sent five to a call (the
        Composite resource, ``composite_queries.py``). Records come in the order of the
        pieces, each once (by ``Id``, when selected) as one query of the whole list would
        return them. An empty list makes no call. Otherwise as :meth:`query`.

        Raises:
            FatalError: as :meth:`query`, or one value alone is too long for a query.
            RetriableError: as :meth:`query`; the pieces read before are lost.
        """
        return self.query_in_many([InQuery(template, args, split, params)],
                                  keep_attributes=keep_attributes,
                                  include_deleted=include_deleted)[0]

    def query_in_many(self, queries: Sequence[InQuery], *, keep_attributes: bool = False,
                      include_deleted: bool = False) -> list[list[dict]]:
        """The records of each of ``queries``, as :meth:`query_in` reads one, the pieces
        of them all sent together, five to a composite call: independent lookups cost
        one API call for up to five pieces.

        Raises:
            FatalError, RetriableError: as :meth:`query_in`.
        """
        for q in queries:
            if q.split not in q.params:
                raise FatalError(f"query template {q.template!r}: no parameter {q.split!r} "
                                 "to cut", system=SYSTEM, code="SOQL_PARAMETER")
        if not any(q.params[q.split] for q in queries):
            return [[] for _ in queries]
        # The full URL counts: log in (no API call) to learn the instance's address.
        base_url = self._call(Target("query"), lambda sf: sf.base_url)
        prefix = f"{base_url}{'queryAll' if include_deleted else 'query'}/?"
        soqls: list[str] = []
        owner: list[int] = []  # the query each soql is a piece of
        for n, q in enumerate(queries):
            if not q.params[q.split]:
                continue
            try:
                pieces = list(in_pieces(q.template, q.args, q.params, q.split,
                                        URI_BUDGET - len(prefix)))
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise FatalError(f"query template {q.template!r} could not be cut into "
                                 f"queries: {exc}", system=SYSTEM,
                                 code="SOQL_PARAMETER") from None
            soqls += [soql for _piece, soql in pieces]
            owner += [n] * len(pieces)
        # Several pieces go five to a composite call: one API call for five queries.
        pages = ([self._records(soqls[0], include_deleted)] if len(soqls) == 1
                 else self._records_together(soqls, include_deleted))
        out: list[list[dict]] = [[] for _ in queries]
        seen: list[set[str]] = [set() for _ in queries]
        for n, page in zip(owner, pages, strict=True):
            for record in page:
                record_id = record.get("Id")
                if record_id is not None:
                    if record_id in seen[n]:  # matched by values of two pieces
                        continue
                    seen[n].add(record_id)
                out[n].append(record)
        return out if keep_attributes else [strip_attributes(rows) for rows in out]

    def _records_together(self, soqls: list[str], include_deleted: bool) -> list[list[dict]]:
        """Every record of each query, the queries sent :data:`MAX_QUERIES` to a composite
        call (one API call each; see ``composite_queries.py``); further pages of a query
        are read as :meth:`_records` reads them.

        Raises:
            BridgeError: a whole call failed, or one query did (its own error, as it
                would have failed alone).
        """
        target = Target("query")
        out: list[list[dict]] = []
        for group in chunks(soqls, MAX_QUERIES):

            def send(sf: Salesforce, group: list[str] = group) -> Any:
                return sf.restful("composite", method="POST",
                                  json=composite_body(sf.base_url, group, include_deleted))

            answer = self._call(target, send, repeatable=True)
            try:
                answers = subresponses(answer, len(group))
            except ValueError as exc:
                raise FatalError(f"composite query: {exc}", system=SYSTEM,
                                 code="UNEXPECTED_RESPONSE") from None
            for status, page in answers:
                if status >= 300 or not isinstance(page, dict):
                    raise classify_response(status, page, target, self._http.last_headers)
                records = list(page.get("records", []))
                while not page.get("done", True) and page.get("nextRecordsUrl"):
                    more = partial(_query_more, url=page["nextRecordsUrl"])
                    page = self._call(target, more, repeatable=True)
                    records.extend(page.get("records", []))
                out.append(records)
        return out

    def _records(self, soql: str, include_deleted: bool) -> list[dict]:
        """Every page of one query (``nextRecordsUrl`` followed, one call per page)."""
        target = Target("query")
        page = self._call(target, lambda sf: sf.query(soql, include_deleted=include_deleted),
                          repeatable=True)
        records = list(page.get("records", []))
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            more = partial(_query_more, url=page["nextRecordsUrl"])
            page = self._call(target, more, repeatable=True)
            records.extend(page.get("records", []))
        return records

    def query_count(self, template: str, *args: Any, **params: Any) -> int:
        """``totalSize`` of a query, e.g. ``SELECT COUNT() FROM Lead WHERE ...``."""
        soql = _soql(template, args, params)
        page = self._call(Target("query"), lambda sf: sf.query(soql), repeatable=True)
        return int(page.get("totalSize", 0))

    def get(self, sobject: str, record_id: str) -> dict:
        """One record by id, without ``attributes``.

        Raises:
            SkippableError: the record does not exist (NOT_FOUND) or was deleted.
        """
        path = f"sobjects/{_api_name(sobject)}/{_record_id(record_id)}"
        target = Target("get", sobject, record_id)
        return strip_attributes(self._call(target, lambda sf: sf.restful(path),
                                          repeatable=True))

    def instance_url(self) -> str:
        """The org's instance URL (records open at ``<instance URL>/<Id>``). Costs no API
        call; a login when no session is known yet.

        Raises:
            ConfigurationError, RetriableError: the login failed.
        """
        if self._sf is None:
            self._call(Target("login"), lambda sf: None, repeatable=True)
        assert self._sf is not None  # _call logged in or raised
        return f"https://{self._sf.sf_instance}"

    def identity(self) -> Identity:
        """The org and integration user of the bridge's session (from the login's
        identity URL). Costs no API call; a login when no session is known yet, or when
        the shared session was stored without its identity.

        Raises:
            ConfigurationError, RetriableError: the login failed.
            FatalError: the login answered without an identity URL.
        """
        if self._identity is None:
            # logs in unless a session exists
            self._call(Target("login"), lambda sf: None, repeatable=True)
        if self._identity is None:  # a shared session stored without its identity
            self.login_calls += 1
            token = fetch_token(self._settings)
            if self._sessions is not None:
                self._sessions.put(token)
            self._identity = parse_identity(token.identity_url)
        if self._identity is None:
            raise FatalError("the Salesforce login answered without an identity URL (id), "
                             "so the org and integration user are unknown; set "
                             "SALESFORCE_ORG_ID", system=SYSTEM, code="NO_IDENTITY")
        return self._identity

    def describe(self, sobject: str) -> dict:
        """The describe of ``sobject``; cached for the life of the gateway."""
        if sobject not in self._describes:
            path = f"sobjects/{_api_name(sobject)}/describe"
            self._describes[sobject] = self._call(Target("describe", sobject),
                                                  lambda sf: sf.restful(path),
                                                  repeatable=True)
        return self._describes[sobject]

    def describe_if_exists(self, sobject: str) -> dict | None:
        """The describe of ``sobject``, or None when the org has no such object (for
        checks that report a missing object as a finding, not a failure).

        Raises:
            BridgeError: any other failure (the login, the network, permissions).
        """
        try:
            return self.describe(sobject)
        except ConfigurationError as error:
            if error.code == "NOT_FOUND":
                return None
            raise

    def describe_global(self) -> dict:
        """``GET sobjects/``: every object's ``name``, ``label`` and ``keyPrefix`` (the
        first three characters of its record ids). Not cached here: callers keep what
        they need."""
        return self._call(Target("describe"), lambda sf: sf.describe(),
                          repeatable=True) or {}

    def versions(self) -> list[str]:
        """The API versions the org serves (``GET /services/data/``), oldest first.

        Raises:
            BridgeError: the org did not answer, or answered with an error.
        """
        target = Target("versions")

        def read(sf: Salesforce) -> requests.Response:
            root = sf.base_url.split("/services/data/", 1)[0]
            return sf.session.get(f"{root}/services/data/", headers=sf.headers)

        response = self._call(target, read)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != 200:
            raise classify_response(response.status_code, body, target, response.headers)
        listed = body if isinstance(body, list) else []
        return [str(v["version"]) for v in listed if isinstance(v, dict) and "version" in v]

    def limits(self) -> dict:
        """The org's limits (``GET /limits``): DailyApiRequests and friends."""
        return self._call(Target("limits"), lambda sf: sf.restful("limits"),
                          repeatable=True) or {}

    def api_usage(self) -> ApiUsage:
        """The org's daily API requests now, ``ApiUsage(used, limit)``, from ``GET
        limits`` (one call; it counts against the limit like any other).

        Raises:
            RateLimitedError: the limit is spent (REQUEST_LIMIT_EXCEEDED).
            ConfigurationError: the integration user may not read the limits (it needs
                "View Setup and Configuration").
            FatalError: the answer has no DailyApiRequests.
        """
        return usage_from_limits(self.limits())

    # -- single-record writes ----------------------------------------------------------

    def create(self, sobject: str, fields: dict[str, Any], *, assign: bool = False) -> str:
        """Create one record and return its id (``assign``: run the active assignment
        rule on it).

        Raises:
            FatalError: Salesforce refused the record (the message names field and fix).
        """
        path = f"sobjects/{_api_name(sobject)}"
        target = Target("create", sobject)
        headers = self._write_headers(assign)
        answer = self._call(target, lambda sf: sf.restful(path, method="POST", json=fields,
                                                          headers=headers))
        result = parse_save_result(answer, target, created_default=True)
        if not result.success or not result.id:
            raise result.errors[0] if result.errors else _no_id(target)
        return result.id

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """Update one record.

        Raises:
            SkippableError: the record no longer exists.
            FatalError: Salesforce refused the values.
        """
        path = f"sobjects/{_api_name(sobject)}/{_record_id(record_id)}"
        target = Target("update", sobject, record_id)
        headers = self._write_headers()
        self._call(target, lambda sf: sf.restful(path, method="PATCH", json=fields,
                                                 headers=headers), repeatable=True)

    def upsert(self, sobject: str, ext_field: str, ext_value: str,
               fields: dict[str, Any], *, assign: bool = False) -> SaveResult:
        """Insert or update the record whose ``ext_field`` is ``ext_value`` (``assign``:
        run the assignment rule, on an update too: only for a key known to be new).

        The external id goes in the URL (escaped by format_external_id); a copy of it in
        ``fields`` is left out of the body, where Salesforce would refuse it. Refused with
        DUPLICATE_VALUE, it is sent once more (see :meth:`upsert_many`).

        Raises:
            FatalError: Salesforce refused the record, or several records share the key.
        """
        key = format_external_id(_api_name(ext_field), str(ext_value))
        path = f"sobjects/{_api_name(sobject)}/{key}"
        target = Target("upsert", sobject)
        body = {k: v for k, v in fields.items() if k != ext_field}
        headers = self._write_headers(assign)

        def send(sf: Salesforce) -> Any:
            return sf.restful(path, method="PATCH", json=body, headers=headers)

        try:
            answer = self._call(target, send, repeatable=True)  # keyed by the external id
        except FatalError as error:
            if error.code != DUPLICATE_VALUE:
                raise
            log.info("upsert %s: refused as a duplicate, sent once more (a race with another "
                     "writer)", sobject)
            answer = self._call(target, send, repeatable=True)
        if answer is None:  # 204: APIs before 46.0 answer an update with no body
            return SaveResult(id=None, success=True, created=False)
        return parse_save_result(answer, target, created_default=False)

def _soql(template: str, args: tuple, params: dict) -> str:
    try:
        return format_soql(template, *args, **params)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise FatalError(f"query template {template!r} could not be filled: {exc!r}",
                         system=SYSTEM, code="SOQL_PARAMETER") from None


def _query_more(sf: Salesforce, *, url: str) -> dict:
    return sf.query_more(url, identifier_is_url=True)


def _what(target: Target) -> str:
    return f"{target.operation} {target.sobject}" if target.sobject else target.operation


def _no_id(target: Target) -> BridgeError:
    return FatalError(f"{target.operation} {target.sobject}: success without an id",
                      system=SYSTEM, code="UNEXPECTED_RESPONSE")
