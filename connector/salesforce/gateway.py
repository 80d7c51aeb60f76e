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
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_external_id

from connector.errors import BridgeError, ConfigurationError, FatalError
from connector.in_call import AttemptFailed, Pacing, run
from connector.metrics import record_call
from connector.salesforce.auth import fetch_token
from connector.salesforce.budget import ApiBudget
from connector.salesforce.collections import CollectionVerbs
from connector.salesforce.errors import (
    DUPLICATE_VALUE,
    SYSTEM,
    Target,
    classify_response,
    is_invalid_session,
)
from connector.salesforce.http import SalesforceHTTP, translate_request_exception
from connector.salesforce.identity import Identity, parse_identity
from connector.salesforce.limits import ApiUsage, usage_from_limits
from connector.salesforce.names import api_name as _api_name
from connector.salesforce.names import record_id as _record_id
from connector.salesforce.queries import QueryVerbs, strip_attributes
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


class SalesforceGateway(CollectionVerbs, QueryVerbs):
    """The only door to Salesforce. Not thread-safe: one per worker process (or thread).

    Attributes:
        api_calls: REST calls sent so far (logins excluded; see ``login_calls``).
        login_calls: token requests sent so far.
        last_api_usage: ``ApiUsage(used, limit)`` daily API requests from the last
            ``Sforce-Limit-Info`` (no call: see :meth:`api_usage`).

    The sObject Collections verbs (``create_many``, ``update_many``, ``upsert_many``,
    ``write_collections``) are in :mod:`connector.salesforce.collections`, the queries
    (``query``, ``query_in``, ``query_in_many``, ``query_count``) in
    :mod:`connector.salesforce.queries`.
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

def _what(target: Target) -> str:
    return f"{target.operation} {target.sobject}" if target.sobject else target.operation


def _no_id(target: Target) -> BridgeError:
    return FatalError(f"{target.operation} {target.sobject}: success without an id",
                      system=SYSTEM, code="UNEXPECTED_RESPONSE")
