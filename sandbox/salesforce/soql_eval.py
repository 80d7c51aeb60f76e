"""Check a parsed SOQL query against the schema, then run it over a snapshot of rows.

Follows Salesforce's semantics where the subset reaches: text comparisons and LIKE are
case-insensitive except on case-sensitive unique fields, ids match in 15- or 18-character
form, ORDER BY puts nulls first ascending and last descending unless told otherwise.
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

MAX_OFFSET = 2000
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
    fields: list[Field]
    count: bool
    predicate: _Predicate
    order: list[tuple[Field, bool, bool]]
    limit: int | None
    offset: int

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
            record.update((f.name, row.get(f.name)) for f in self.fields)
            records.append(record)
        return len(records), records

    def _compare(self, left: dict, right: dict) -> int:
        for field, descending, nulls_first in self.order:
            a, b = _key(field, left.get(field.name)), _key(field, right.get(field.name))
            if a == b:
                continue
            if a is None or b is None:
                return (-1 if a is None else 1) * (1 if nulls_first else -1)
            return (-1 if a < b else 1) * (-1 if descending else 1)
        return 0


def compile_query(query: Query, schema: Schema) -> Plan:
    """Resolve names (case-insensitively) and check filter values against field types.

    Raises:
        SalesforceError: INVALID_TYPE (unknown object), INVALID_FIELD (unknown field, or a
            value of the wrong type), NUMBER_OUTSIDE_VALID_RANGE (OFFSET above 2000).
    """
    obj = schema.get(query.sobject.text)
    if obj is None:
        raise query_error(query.text, query.sobject.pos,
                          _UNSUPPORTED_OBJECT.format(query.sobject.text), "INVALID_TYPE")
    resolve = functools.partial(_field, query, obj)
    fields = [resolve(name) for name in query.fields]
    order = []
    for item in query.order:
        field = resolve(item.field)
        if field.type == "textarea":
            raise query_error(query.text, item.field.pos, f"field '{field.name}' can not be "
                              "sorted in a query call", "INVALID_FIELD")
        order.append((field, item.descending, item.nulls_first))
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SalesforceError("NUMBER_OUTSIDE_VALID_RANGE",
                              f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    predicate = _predicate(query, obj, query.where) if query.where else (lambda _row: True)
    return Plan(obj, fields, query.count, predicate, order, query.limit, query.offset or 0)


def _field(query: Query, obj: SObject, name: Name) -> Field:
    field = obj.field(name.text)
    if field is None:
        raise query_error(query.text, name.pos, _NO_SUCH_COLUMN.format(name.text, obj.name),
                          "INVALID_FIELD")
    return field


def _predicate(query: Query, obj: SObject, cond: Condition) -> _Predicate:
    if isinstance(cond, Not):
        inner = _predicate(query, obj, cond.operand)
        return lambda row: not inner(row)
    if not isinstance(cond, Comparison):
        parts = [_predicate(query, obj, c) for c in cond.operands]
        join = all if cond.op == "AND" else any
        return lambda row: join(p(row) for p in parts)
    field = _field(query, obj, cond.field)
    if field.type == "textarea":
        raise query_error(query.text, cond.field.pos, f"field '{field.name}' can not be "
                          "filtered in a query call", "INVALID_FIELD")
    if cond.op == "LIKE":
        return _like(query, field, cond.value)
    literals = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    keys = [_literal_key(query, field, lit) for lit in literals]
    if cond.op in ("IN", "NOT IN"):
        wanted = set(keys)
        negate = cond.op == "NOT IN"
        return lambda row: (_key(field, row.get(field.name)) in wanted) != negate
    return functools.partial(_test, field, cond.op, keys[0])


def _test(field: Field, op: str, wanted: object, row: dict) -> bool:
    have = _key(field, row.get(field.name))
    if op == "=":
        return have == wanted
    if op == "!=":
        return have != wanted
    if have is None or wanted is None:
        return False
    return {"<": have < wanted, "<=": have <= wanted, ">": have > wanted,
            ">=": have >= wanted}[op]


def _like(query: Query, field: Field, literal: Literal) -> _Predicate:
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
    return lambda row: row.get(field.name) is not None and bool(
        regex.fullmatch(str(row[field.name])))


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
