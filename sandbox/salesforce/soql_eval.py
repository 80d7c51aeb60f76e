"""Check a parsed SOQL query against the schema, then run it over a snapshot of rows.

Follows Salesforce's semantics where the subset reaches: text comparisons and LIKE are
case-insensitive except on case-sensitive unique fields, ids match in 15- or 18-character
form, ORDER BY puts nulls first ascending and last descending unless told otherwise.
Fields may be reached through parents (``Lead.Email``; see ``soql_paths.py``) in SELECT,
WHERE and ORDER BY.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.salesforce import ids, values
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.schema import TEXT_TYPES, Field, Schema, SObject
from sandbox.salesforce.soql import (
    ESCAPES,
    Comparison,
    Condition,
    Literal,
    Name,
    Not,
    Query,
    query_error,
)
from sandbox.salesforce.soql_paths import Column, Lookup, PathError, render, resolve

MAX_OFFSET = 2000
_NO_RELATIONSHIP = ("Didn't understand relationship '{}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the "
                    "custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.")
_UNSUPPORTED_OBJECT = ("sObject type '{}' is not supported. If you are attempting to use a "
                       "custom object, be sure to append the '__c' after the entity name. "
                       "Please reference your WSDL or the describe call for the appropriate "
                       "names.")
_NO_SUCH_COLUMN = ("No such column '{}' on entity '{}'. If you are attempting to use a custom "
                   "field, be sure to append the '__c' after the custom field name. Please "
                   "reference your WSDL or the describe call for the appropriate names.")
# The literal kind each field type takes, and the type name Salesforce's errors use.
_LITERAL_FOR = {"boolean": ("BOOLEAN", "boolean"), "int": ("NUMBER", "integer"),
                "double": ("NUMBER", "double"), "date": ("DATE", "date"),
                "datetime": ("DATETIME", "dateTime")}
_Predicate = Callable[[dict], bool]


@dataclass
class Plan:
    """A query checked against the schema, ready to run over rows of ``sobject``."""

    sobject: SObject
    fields: list[Column]
    count: bool
    predicate: _Predicate
    order: list[tuple[Column, bool, bool]]
    limit: int | None
    offset: int
    lookup: Lookup | None = None  # any record by id, for the parents of field paths

    def execute(self, rows: list[dict], version: str) -> tuple[int, list[dict]]:
        """(totalSize, records) of the query over ``rows``; records carry ``attributes``."""
        matched = [r for r in rows if self.predicate(r)]
        if self.order:
            matched.sort(key=functools.cmp_to_key(self._compare))
        end = None if self.limit is None else self.offset + self.limit
        matched = matched[self.offset:end]
        if self.count:
            return len(matched), []
        name = self.sobject.name
        records = []
        for row in matched:
            url = f"/services/data/v{version}/sobjects/{name}/{row['Id']}"
            record = {"attributes": {"type": name, "url": url}}
            for column in self.fields:
                render(record, row, column, self.lookup, version)
            records.append(record)
        return len(records), records

    def _compare(self, left: dict, right: dict) -> int:
        for column, descending, nulls_first in self.order:
            field = column.field
            a = _key(field, column.value(left, self.lookup))
            b = _key(field, column.value(right, self.lookup))
            if a == b:
                continue
            if a is None or b is None:
                return (-1 if a is None else 1) * (1 if nulls_first else -1)
            return (-1 if a < b else 1) * (-1 if descending else 1)
        return 0


def compile_query(query: Query, schema: Schema, lookup: Lookup | None = None) -> Plan:
    """Resolve names (case-insensitively) and check filter values against field types.
    ``lookup``: any record by id (``Store.lookup``), for fields of parents; without it a
    parent reads as null.

    Raises:
        SalesforceError: INVALID_TYPE (unknown object), INVALID_FIELD (unknown field, or a
            value of the wrong type), NUMBER_OUTSIDE_VALID_RANGE (OFFSET above 2000).
    """
    obj = schema.get(query.sobject.text)
    if obj is None:
        raise query_error(query.text, query.sobject.pos,
                          _UNSUPPORTED_OBJECT.format(query.sobject.text), "INVALID_TYPE")
    column_of = functools.partial(_column, query, schema, obj)
    fields = [column_of(name) for name in query.fields]
    order = []
    for item in query.order:
        column = column_of(item.field)
        if column.field.type == "textarea":
            raise query_error(query.text, item.field.pos, f"field '{column.field.name}' can "
                              "not be sorted in a query call", "INVALID_FIELD")
        order.append((column, item.descending, item.nulls_first))
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SalesforceError("NUMBER_OUTSIDE_VALID_RANGE",
                              f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    predicate = (_predicate(query, column_of, lookup, query.where) if query.where
                 else (lambda _row: True))
    return Plan(obj, fields, query.count, predicate, order, query.limit, query.offset or 0,
                lookup)


def _column(query: Query, schema: Schema, obj: SObject, name: Name) -> Column:
    try:
        return resolve(schema, obj, name.text)
    except PathError as exc:
        message = (_NO_SUCH_COLUMN.format(exc.part, exc.obj.name) if exc.kind == "field"
                   else _NO_RELATIONSHIP.format(exc.part))
        raise query_error(query.text, name.pos, message, "INVALID_FIELD") from None


def _predicate(query: Query, column_of: Callable[[Name], Column], lookup: Lookup | None,
               cond: Condition) -> _Predicate:
    if isinstance(cond, Not):
        inner = _predicate(query, column_of, lookup, cond.operand)
        return lambda row: not inner(row)
    if not isinstance(cond, Comparison):
        parts = [_predicate(query, column_of, lookup, c) for c in cond.operands]
        join = all if cond.op == "AND" else any
        return lambda row: join(p(row) for p in parts)
    column = column_of(cond.field)
    field = column.field

    def get(row: dict) -> object:
        return column.value(row, lookup)

    if field.type == "textarea":
        raise query_error(query.text, cond.field.pos, f"field '{field.name}' can not be "
                          "filtered in a query call", "INVALID_FIELD")
    if cond.op == "LIKE":
        return _like(query, field, get, cond.value)
    literals = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    keys = [_literal_key(query, field, lit) for lit in literals]
    if cond.op in ("IN", "NOT IN"):
        wanted = set(keys)
        negate = cond.op == "NOT IN"
        return lambda row: (_key(field, get(row)) in wanted) != negate
    return functools.partial(_test, field, get, cond.op, keys[0])


def _test(field: Field, get: Callable[[dict], object], op: str, wanted: object,
          row: dict) -> bool:
    have = _key(field, get(row))
    if op == "=":
        return have == wanted
    if op == "!=":
        return have != wanted
    if have is None or wanted is None:
        return False
    return {"<": have < wanted, "<=": have <= wanted, ">": have > wanted,
            ">=": have >= wanted}[op]


def _like(query: Query, field: Field, get: Callable[[dict], object],
          literal: Literal) -> _Predicate:
    if field.type not in TEXT_TYPES:
        raise query_error(query.text, literal.pos, f"invalid operator on {field.type} field",
                          "INVALID_FIELD")
    # Translate from the escaped source so \% and \_ stay literal while % and _ match.
    pattern, raw, i = [], literal.raw, 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            pattern.append(re.escape(ESCAPES[raw[i + 1]]))
            i += 2
            continue
        pattern.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("".join(pattern), re.IGNORECASE | re.DOTALL)

    def like(row: dict) -> bool:
        value = get(row)
        return value is not None and bool(regex.fullmatch(str(value)))

    return like


def _literal_key(query: Query, field: Field, literal: Literal) -> object:
    if literal.kind == "NULL":
        return None
    kind = field.type
    expected, type_name = _LITERAL_FOR.get(kind, ("STRING", "string"))
    if kind in ("id", "reference") and literal.kind == "STRING":
        normal = ids.normalize(literal.value)
        if normal is None:
            raise query_error(query.text, literal.pos, f"invalid ID field: {literal.value}",
                              "INVALID_QUERY_FILTER_OPERATOR")
        return normal
    if literal.kind != expected:
        quoted = "be enclosed in quotes" if expected == "STRING" else \
            "not be enclosed in quotes"
        raise query_error(query.text, literal.pos, f"value of filter criterion for field "
                          f"'{field.name}' must be of type {type_name} and should {quoted}",
                          "INVALID_FIELD")
    if expected == "DATETIME":
        return values.parse_datetime(str(literal.value), require_zone=True)
    if expected == "NUMBER":
        return float(str(literal.value))
    return _key(field, literal.value)


def _key(field: Field, value: object) -> object:
    """A value reduced to what SOQL compares (None stays None)."""
    if value is None:
        return None
    if field.type == "datetime":
        return values.parse_datetime(str(value))
    if field.type in ("int", "double"):
        return float(value)
    if field.type in TEXT_TYPES and not field.case_sensitive:
        return str(value).casefold()
    return value
