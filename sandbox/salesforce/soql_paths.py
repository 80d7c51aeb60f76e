"""Field paths of SOQL: ``Email`` on the queried object, or ``Lead.Email``,
``Contact.Account.Name``, ``Owner.Name`` through child-to-parent relationships.

Salesforce's rules (SOQL and SOSL Reference, "Relationship Queries" and "Understanding
Relationship Names",
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_using.htm):
a parent is reached through the relationship name of a lookup field (``LeadId`` →
``Lead``, a custom ``Store__c`` → ``Store__r``), at most five levels up; an empty lookup
gives null. (The five-level cap cannot be reached in the sandbox's schema, so it is
not checked.) A polymorphic lookup (several ``referenceTo``, like ``Owner``: a User or a
queue) reaches the ``Name`` object, whose few fields (Name, FirstName, LastName, Alias,
Email, ...) are read from whatever record the id points at (Object Reference, "Name",
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_name.htm).

In the JSON answer a parent is a nested record with its own ``attributes``: ``"Lead":
{"attributes": {"type": "Lead", "url": ".../sobjects/Lead/00Q..."}, "Email": "..."}``,
or ``"Lead": null``; through a polymorphic lookup the type is ``"Name"`` and the url
the real object's (``"Owner": {"attributes": {"type": "Name", "url":
"/services/data/v29.0/sobjects/User/005U0000000XMVTIA4"}, "Name": "Sales User"}`` in a
REST answer recorded from a real org).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sandbox.salesforce.schema import Field, Schema, SObject

Lookup = Callable[[str], "tuple[SObject, dict] | None"]

# The Name object's fields (Object Reference, "Name"); each is read from the parent record
# when it has it (a queue has no FirstName), ``Type`` is the parent's object.
NAME_OBJECT = SObject("Name", "Name", "", tuple(
    Field(n, t, length=ln) for n, t, ln in (
        ("Id", "id", 18), ("Name", "string", 255), ("FirstName", "string", 40),
        ("LastName", "string", 80), ("Alias", "string", 8), ("Email", "email", 128),
        ("IsActive", "boolean", 0), ("Phone", "phone", 40), ("Title", "string", 80),
        ("Type", "picklist", 40), ("Username", "string", 80))))


@dataclass(frozen=True)
class Hop:
    """One step up: the lookup field, its relationship name, the parent's object
    (:data:`NAME_OBJECT` for a polymorphic lookup)."""

    field: Field
    name: str
    target: SObject


@dataclass(frozen=True)
class Column:
    """A field path resolved against the schema: the hops up, then the field."""

    hops: tuple[Hop, ...]
    field: Field

    def value(self, row: dict, lookup: Lookup | None) -> object:
        """The value at the end of the path, None where a lookup is empty."""
        actual = None
        for hop in self.hops:
            parent = _parent(row, hop, lookup)
            if parent is None:
                return None
            actual, row = parent
        return _read(row, self, actual)


class PathError(Exception):
    """A path the schema does not have: ``part`` is the piece not understood, ``kind``
    ``relationship`` or ``field`` (the last piece), ``obj`` the object it was sought on."""

    def __init__(self, kind: str, part: str, obj: SObject) -> None:
        super().__init__(kind, part)
        self.kind, self.part, self.obj = kind, part, obj


def resolve(schema: Schema, obj: SObject, path: str) -> Column:
    """``path`` from ``obj`` (names case-insensitive).

    Raises:
        PathError: an unknown relationship or field.
    """
    *relationships, last = path.split(".")
    hops = []
    current = obj
    for part in relationships:
        ref = next((f for f in current.fields if f.relationship_name
                    and f.relationship_name.lower() == part.lower()), None)
        if current is NAME_OBJECT or ref is None:
            raise PathError("relationship", part, current)
        if len(ref.reference_to) > 1:
            target = NAME_OBJECT
        else:
            target = schema.get(ref.reference_to[0])
            if target is None:  # User, Group...: not emulated as objects
                raise PathError("relationship", part, current)
        hops.append(Hop(ref, ref.relationship_name or part, target))
        current = target
    field = current.field(last)
    if field is None:
        raise PathError("field", last, current)
    return Column(tuple(hops), field)


def render(record: dict, row: dict, column: Column, lookup: Lookup | None,
           version: str) -> None:
    """Put ``column``'s value into the answer's ``record``: at the top, or inside the
    nested parent records (made on first use, null for an empty lookup)."""
    container, actual = record, None
    for hop in column.hops:
        if hop.name not in container:
            parent = _parent(row, hop, lookup)
            container[hop.name] = None if parent is None else {"attributes": {
                "type": hop.target.name,
                "url": f"/services/data/v{version}/sobjects/{parent[0].name}/{parent[1]['Id']}",
            }}
        if container[hop.name] is None:
            return
        container = container[hop.name]
        found = _parent(row, hop, lookup)
        assert found is not None  # the nested record exists, so does its row
        actual, row = found
    container[column.field.name] = _read(row, column, actual)


def _parent(row: dict, hop: Hop, lookup: Lookup | None) -> tuple[SObject, dict] | None:
    ref = row.get(hop.field.name)
    if not ref or lookup is None:
        return None
    found = lookup(str(ref))
    if found is None or found[1].get("IsDeleted"):
        return None
    if hop.target is not NAME_OBJECT and found[0] is not hop.target:
        return None
    return found


def _read(row: dict, column: Column, actual: SObject | None) -> object:
    """The column's field of ``row``, a record of ``actual`` (None: the queried object).
    Through the Name object, a field the parent lacks is null and ``Type`` is the
    parent's object."""
    if column.hops and column.hops[-1].target is NAME_OBJECT and actual is not None:
        if column.field.name == "Type":
            return actual.name
        return row.get(column.field.name) if actual.field(column.field.name) else None
    return row.get(column.field.name)
