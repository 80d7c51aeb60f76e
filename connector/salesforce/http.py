"""The requests Session every Salesforce call goes through.

simple-salesforce sets no timeout, so :class:`SalesforceHTTP` adds one to each request
that lacks it. It also counts calls, remembers the last response's headers (for the
request id of an error) and the org's API usage from ``Sforce-Limit-Info``. A gateway
and its session belong to one thread at a time (an RQ worker runs one job at a time).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from connector import logs
from connector.errors import FatalError, RetriableError
from connector.salesforce.errors import REQUEST_ID_HEADERS, SYSTEM, Target, classify_transport
from connector.salesforce.limits import ApiUsage, parse_limit_info

log = logging.getLogger("connector.salesforce")

_VERSIONED = re.compile(r"^/services/data/v[0-9.]+/")
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def call_verb(method: str, path: str) -> str:
    """The metric name of a call: its method and resource, without record ids or values
    (``POST composite/sobjects``, ``GET query``, ``PATCH sobjects/Lead``,
    ``POST oauth2/token``), so the label's values stay few."""
    rest = _VERSIONED.sub("", path)
    if rest == path:  # not the data API: the login or an Apex REST route
        rest = path.removeprefix("/services/")
    parts = [p for p in rest.split("/") if p]
    if parts[:1] == ["sobjects"] or parts[:1] == ["composite"]:
        parts = parts[:2]
    else:
        parts = parts[:1] if parts[:1] != ["oauth2"] else parts[:2]
    # an sObject name stays (few of them); a record id or external id value never does
    parts = [p for p in parts if not _ID.match(p) or p in {"sobjects", "composite"}]
    return f"{method.upper()} {'/'.join(parts) or '/'}"



class SalesforceHTTP(requests.Session):
    """A Session with a default timeout and call accounting.

    Attributes:
        timeout: seconds, applied to every request that does not set its own.
        client_name: sent on every request as ``Sforce-Call-Options: client=<name>``.
        calls: HTTP requests sent (answered or not).
        api_usage: ``ApiUsage(used, limit)`` of the org's daily API requests, from the
            last answer that carried ``Sforce-Limit-Info``.
        on_usage: called with that usage on every answer that carries it (the gateway
            shares it through Redis, throttled: ``connector/salesforce/budget.py``).
        last_headers: the headers of the last answer (empty when the last call got none).
    """

    def __init__(self, timeout: float, client_name: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        if client_name:
            # Every call names the bridge as its client: Salesforce logs it (Event
            # Monitoring's CLIENT_NAME), and the sandbox records it per write, by which
            # tests count the bridge's own writes.
            self.headers["Sforce-Call-Options"] = f"client={client_name}"
        self.calls = 0
        self.api_usage: ApiUsage | None = None
        self.on_usage: Callable[[ApiUsage], None] | None = None
        self.last_headers: Mapping[str, str] = {}
        self.on_answer: Callable[[str, int], None] | None = None

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        self.calls += 1
        self.last_headers = {}
        path = urlsplit(str(url)).path  # no query string: SOQL may hold personal data
        started = time.perf_counter()
        try:
            response = super().request(method, url, **kwargs)
        except requests.RequestException as exc:
            log.debug("salesforce %s %s failed: %s", method, path, type(exc).__name__)
            raise
        self.last_headers = response.headers
        request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS
                           if h in response.headers), None)
        # The REST API's documented response headers name no request id (REST API
        # Developer Guide, "Headers": Sforce-Limit-Info and the like); a proxy or a future
        # version may send one, and then every line of the job carries it.
        if request_id:
            logs.set_context(sf_request_id=request_id)
        if self.on_answer is not None:
            self.on_answer(call_verb(str(method), path), response.status_code)
        limit_info = response.headers.get("Sforce-Limit-Info")
        usage = parse_limit_info(limit_info) if limit_info else None
        if usage is not None:
            self.api_usage = usage
            if self.on_usage is not None:
                self.on_usage(usage)
        log.debug("salesforce %s %s -> %s in %.0f ms (api usage %s)", method, path,
                  response.status_code, (time.perf_counter() - started) * 1000, self.api_usage)
        return response


def translate_request_exception(exc: requests.RequestException, target: Target
                                ) -> RetriableError | FatalError:
    """A requests failure (no usable answer) in the error tree.

    Timeouts and connection errors (TLS included, and an answer cut off) are retriable;
    an answer that is not JSON where JSON was due is retriable too (a proxy or maintenance
    page); anything else (an invalid URL) is fatal.
    """
    detail = type(exc).__name__
    if isinstance(exc, requests.Timeout):
        return classify_transport("timeout", target, detail)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        # ChunkedEncodingError: the connection broke in the middle of the answer
        return classify_transport("connection", target, detail)
    if isinstance(exc, requests.exceptions.InvalidJSONError):
        return RetriableError(f"{target.operation}: Salesforce answered with a body that is "
                              "not JSON", system=SYSTEM, code="INVALID_JSON")
    return FatalError(f"{target.operation}: the request could not be sent ({detail})",
                      system=SYSTEM, code="REQUEST_ERROR")
