"""SOQL queries: ``query``, ``query_in`` (a long ``IN`` list cut into several queries),
``query_in_many`` (several such queries sent together), ``query_count``.

A mixin of :class:`~connector.salesforce.gateway.SalesforceGateway`: it uses the
gateway's ``_call`` (login, in-call retries, errors translated) and ``_http`` (the last
answer's headers). Several queries go five to a Composite call
(``composite_queries.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from connector.chunks import chunks
from connector.errors import FatalError
from connector.salesforce.composite_queries import MAX_QUERIES, composite_body, subresponses
from connector.salesforce.errors import SYSTEM, Target, classify_response
from connector.salesforce.in_lists import URI_BUDGET, in_pieces


def strip_attributes(value: Any) -> Any:
    """``value`` without the ``attributes`` entries Salesforce adds to every record."""
    if isinstance(value, dict):
        return {k: strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(v) for v in value]
    return value


@dataclass(frozen=True)
class InQuery:
    """A query for :meth:`QueryVerbs.query_in_many`: ``format_soql(template,
    *args, **params)``, whose ``IN`` list ``params[split]`` may be cut into pieces."""

    template: str
    args: tuple = ()
    split: str = "values"
    params: Mapping[str, Any] = field(default_factory=dict)


class QueryVerbs:
    """``query``, ``query_in``, ``query_in_many``, ``query_count``."""

    _call: Callable[..., Any]
    _http: Any

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


def _soql(template: str, args: tuple, params: dict) -> str:
    try:
        return format_soql(template, *args, **params)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise FatalError(f"query template {template!r} could not be filled: {exc!r}",
                         system=SYSTEM, code="SOQL_PARAMETER") from None


def _query_more(sf: Salesforce, *, url: str) -> dict:
    return sf.query_more(url, identifier_is_url=True)
