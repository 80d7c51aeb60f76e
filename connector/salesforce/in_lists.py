"""Long ``IN`` lists cut so that each query's URI stays inside Salesforce's limit.

A REST query travels in the URL (``GET .../query/?q=<SOQL, URL-encoded>``), and
Salesforce refuses a call whose URI and headers together pass 16,384 bytes: 414 URI Too
Long, or 431 Request Header Fields Too Large (Salesforce Developer Limits and Allocations
Quick Reference, "API Request Limits and Allocations",
https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm).
How many values fit is a matter of their encoded length, not their count: 200 emails of
80 characters are 18 KB once URL-encoded (``@`` alone takes three bytes), 200 record ids
5 KB. :func:`in_pieces` cuts a list by the encoded length of the whole request URI.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus, urlencode

from simple_salesforce.format import format_soql, quote_soql_value

MAX_REQUEST_BYTES = 16_384  # a REST call's URI and headers together (see the docstring)
# The bridge's headers (Authorization with a session id of about 112 characters,
# Sforce-Call-Options, User-Agent, Accept...) take under 1 KB; the rest is margin.
HEADER_ALLOWANCE = 2_048
URI_BUDGET = MAX_REQUEST_BYTES - HEADER_ALLOWANCE
_SEPARATOR = len(quote_plus(","))  # between two values of a list


def query_uri_length(prefix: str, soql: str) -> int:
    """The bytes of ``prefix`` (``https://host/services/data/vXX.X/query/?``) followed by
    ``q=<soql>`` form-encoded in UTF-8, as requests sends simple-salesforce's query."""
    return len(prefix) + len(urlencode({"q": soql}))


def _cost(value: Any) -> int:
    """The encoded bytes one value adds to the query, where it is quoted."""
    return len(quote_plus(quote_soql_value(value)))


def in_pieces(template: str, args: Sequence[Any], params: Mapping[str, Any], split: str,
              room: int) -> Iterator[tuple[list[Any], str]]:
    """The list ``params[split]``, in order, cut into pieces such that the query
    ``format_soql(template, *args, **params)`` with ``split`` set to a piece encodes to at
    most ``room`` bytes (:func:`query_uri_length` with an empty prefix); each piece with
    its SOQL. The list may appear several times in the template; the other parameters
    (short lists too) are the same in every piece. An empty list makes no piece.

    Raises:
        ValueError: one value alone makes the query longer than ``room``.
        KeyError, IndexError, TypeError: the template and parameters do not fit.
    """
    values = list(params[split])
    if not values:
        return

    def soql(piece: list[Any]) -> str:
        return format_soql(template, *args, **{**params, split: piece})

    # A query's encoded length is affine in its list: each character of SOQL encodes on
    # its own, so a piece costs base + times * (its values' costs + the separators).
    first = values[0]
    one = query_uri_length("", soql([first]))
    times, rest = divmod(query_uri_length("", soql([first, first])) - one,
                         _cost(first) + _SEPARATOR)
    if rest:
        raise AssertionError("the SOQL of an IN list is not what quote_soql_value makes")
    base = one - times * _cost(first)
    start = 0
    while start < len(values):
        size = base + times * _cost(values[start])
        end = start + 1
        while end < len(values):
            more = times * (_SEPARATOR + _cost(values[end]))
            if size + more > room:
                break
            size += more
            end += 1
        piece = values[start:end]
        text = soql(piece)
        if query_uri_length("", text) > room:
            raise ValueError(f"one value ({len(str(piece[0]))} characters) makes the query "
                             f"{query_uri_length('', text)} bytes long once URL-encoded; "
                             f"Salesforce takes {room} here")
        yield piece, text
        start = end
