"""Who each follower of a batch is: the person a lookup found in Salesforce, or the
one the batch creates (pure; the lookups themselves are :mod:`.apply`'s I/O).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.inbound.calls import Ref
from mappings.plan import EventPlan, Lookup


@dataclass
class Persons:
    """Who each follower is: found in Salesforce (an Id) or to be created (a Ref).

    ``rows``: the row the lookup read for a found person, when it is that person's own
    (not the Lead of a converted Contact): its current values, for conflict policies.
    """

    found: dict[str, tuple[str, str | Ref]] = field(default_factory=dict)  # openid → (obj, id)
    to_create: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


# The rows a lookup found, oldest first (each with Id, and for a Lead IsConverted and
# ConvertedContactId); a bare Id stands for one row.
Found = dict[tuple[str, str, str], str | Sequence[dict[str, Any]]]


def pick(lookup: Lookup, rows: str | Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """(object, Id) of the person ``lookup`` finds among ``rows`` (oldest first), by its
    ``on_many`` and ``follow_converted``; None when it finds nobody."""
    picked = _pick_row(lookup, rows)
    return picked[:2] if picked else None


def _pick_row(lookup: Lookup, rows: str | Sequence[dict[str, Any]]
              ) -> tuple[str, str, dict[str, Any] | None] | None:
    """As :func:`pick`, with the person's row (None for the Contact of a converted Lead,
    whose row was not read)."""
    rows = [{"Id": rows}] if isinstance(rows, str) else rows
    if not rows or (len(rows) > 1 and lookup.on_many == "skip"):
        return None
    row = rows[-1] if lookup.on_many == "newest" else rows[0]
    if lookup.follow_converted and row.get("IsConverted") and row.get("ConvertedContactId"):
        return "Contact", row["ConvertedContactId"], None
    return lookup.object, row["Id"], row


def resolve_persons(plans: list[EventPlan], found: Found) -> Persons:
    """Pick each follower's person from the lookups' results (``found``: (object, field,
    value) → rows), the first lookup that picks one winning, or decide to create one.
    Pure; the lookups are the caller's I/O."""
    persons = Persons()
    firsts = first_person_plans(plans)
    for openid, plan in latest_person_plans(plans).items():
        person = plan.person
        hit = next((picked for lk in person.lookups
                    if _key(lk) in found and (picked := _pick_row(lk, found[_key(lk)]))), None)
        if hit:
            obj, person_id, row = hit
            persons.found[openid] = (obj, person_id)
            if row is not None:
                persons.rows[openid] = dict(row)
        elif person.create_object and person.create_key:
            key = person.create_key
            # Created as the follower's first event of the batch would have created it, so
            # how events fall into batches never changes what is written (event.channel...).
            first = firsts[openid].person
            record = {**first.create_fields, key.field: key.value}
            persons.found[openid] = (key.object, Ref(key.object, key.field, key.value))
            persons.to_create[openid] = (key.object, key.field, record)
    return persons


def _key(lookup: Lookup) -> tuple[str, str, str]:
    return (lookup.object, lookup.field, lookup.value)


def by_follower(plans: list[EventPlan]) -> dict[str, list[EventPlan]]:
    """Plans grouped by follower, oldest first, so later events' values win."""
    groups: dict[str, list[EventPlan]] = {}
    for plan in sorted(plans, key=lambda p: p.create_time):
        groups.setdefault(plan.openid, []).append(plan)
    return groups


def first_person_plans(plans: list[EventPlan]) -> dict[str, EventPlan]:
    """Per follower, the oldest plan that looks for a person."""
    return {openid: next(p for p in ps if p.person)
            for openid, ps in by_follower(plans).items() if any(p.person for p in ps)}


def latest_person_plans(plans: list[EventPlan]) -> dict[str, EventPlan]:
    """Per follower, the newest plan that looks for a person."""
    return {openid: [p for p in ps if p.person][-1]
            for openid, ps in by_follower(plans).items() if any(p.person for p in ps)}
