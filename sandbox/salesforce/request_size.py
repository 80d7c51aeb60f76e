"""Salesforce's cap on the size of a request's URI and headers, checked before the API.

Source: Salesforce Developer Limits and Allocations Quick Reference, "API Request Limits
and Allocations"
(https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm),
and Help article 000386264 ("Maximum number of rows returned by SOQL queries over the
REST API", https://help.salesforce.com/s/articleView?id=000386264&type=1): in each REST
call the combined URI and headers may be at most 16,384 bytes; past it the answer is
431 Request Header Fields Too Large, and 414 URI Too Long when the URI alone is over.

The refusal comes from Salesforce's front server, not from the API: its body is a small
HTML page, not the API's JSON error list, e.g. ``<h1>Bad Message 414</h1><pre>reason:
URI Too Long</pre>`` as reported against real orgs in simple-salesforce issue #271
(https://github.com/simple-salesforce/simple-salesforce/issues/271), jsforce #1134 and
jetstreamapp/jetstream #152: Jetty's bad-message page (its ``ErrorHandler.badMessageError``
writes that body as ``text/html;charset=iso-8859-1`` and closes the connection), which
is also what it answers for a 431. No API call is counted: the request never reaches
the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

MAX_REQUEST_BYTES = 16_384  # the URI and the headers together (see the docstring)
CONTROL_PREFIX = b"/__sandbox__"  # the sandbox's own routes are not Salesforce's

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


def uri_bytes(scope: Scope) -> int:
    """The length of the request target as sent: the raw path, ``?`` and the raw query."""
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    query = scope.get("query_string") or b""
    return len(path) + (1 + len(query) if query else 0)


def header_bytes(scope: Scope) -> int:
    """The headers' size on the wire: ``name: value`` and a line break each."""
    return sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))


def refusal(scope: Scope) -> int | None:
    """414 or 431 when the request is over Salesforce's size limit, else None."""
    uri = uri_bytes(scope)
    if uri > MAX_REQUEST_BYTES:
        return 414
    if uri + header_bytes(scope) > MAX_REQUEST_BYTES:
        return 431
    return None


class RequestSizeLimit:
    """ASGI middleware: refuses an HTTP request over the limit as Salesforce does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") or b""
        status = None
        if scope["type"] == "http" and not raw_path.startswith(CONTROL_PREFIX):
            status = refusal(scope)
        if status is None:
            await self.app(scope, receive, send)
            return
        body = f"<h1>Bad Message {status}</h1><pre>reason: {_REASONS[status]}</pre>".encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html;charset=iso-8859-1"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
