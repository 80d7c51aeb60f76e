"""The exact Salesforce writes a batch of plans causes, as data: what preview prints and
what the bridge executes.

A record created earlier in the same batch (a new Lead) has no Id yet when later steps
(the follower's lookup, the campaign member) need it; they hold a :class:`Ref` to it,
replaced by the Id once the step that creates it has run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.conflicts import updatable
from connector.members import CampaignFacts, member_writes
from mappings.lifecycle import next_stage
from mappings.plan import EventPlan, Lookup


@dataclass(frozen=True)
class Ref:
    """The record of ``object`` whose ``key_field`` is ``key``, created by an earlier step."""

    object: str
    key_field: str
    key: str

    def __str__(self) -> str:
        return f"@{{{self.object}.{self.key_field}={self.key}}}"


@dataclass(frozen=True)
class Write:
    """One collection call: ``records[i]`` serves the events ``events[i]``.

    ``duplicate_ok``: Salesforce's DUPLICATE_VALUE means the record is already there
    (a campaign member), which is what the events wanted. ``links_optional``: a field
    whose Ref could not be created is left out and the record still written (a follower
    is worth recording without its person); otherwise the record is skipped.
    """

    action: Literal["upsert", "update", "create"]
    object: str
    key_field: str | None
    records: tuple[dict[str, Any], ...]
    events: tuple[tuple[str, ...], ...]
    duplicate_ok: bool = False
    links_optional: bool = False

    def to_json(self) -> dict[str, Any]:
        def show(value: Any) -> Any:
            return str(value) if isinstance(value, Ref) else value

        return {"action": self.action, "object": self.object, "key_field": self.key_field,
                "records": [{k: show(v) for k, v in r.items()} for r in self.records]}


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


def plan_writes(plans: list[EventPlan], persons: Persons,
                facts: CampaignFacts | None = None,
                stages: dict[str, str | None] | None = None) -> list[Write]:
    """The writes, in the order they must run. ``facts``: what the campaign queries found
    (none are needed for the default mapping). A matched person's update leaves out the
    values its conflict policies keep (``connector/conflicts.py``). ``stages``: the
    followers' lifecycle stages in Salesforce (openid → stage), when the mapping has a
    ``lifecycle:``. Pure."""
    groups = by_follower(plans)
    keys = {openid: tuple(p.key for p in ps) for openid, ps in groups.items()}
    writes: list[Write] = []

    creates: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for openid, (obj, key_field, record) in persons.to_create.items():
        creates.setdefault((obj, key_field), []).append((openid, record))
    for (obj, key_field), items in creates.items():
        writes.append(Write("upsert", obj, key_field, tuple(r for _, r in items),
                            tuple(keys[o] for o, _ in items)))

    updates: dict[str, list[tuple[str, dict]]] = {}
    for openid, plan in latest_person_plans(plans).items():
        obj, person_id = persons.found.get(openid, (None, None))
        if not obj or isinstance(person_id, Ref):
            continue  # nobody to update, or created by this batch with every field
        values = updatable(plan.person.update_fields.get(obj, {}),
                           plan.person.conflicts.get(obj, {}), persons.rows.get(openid),
                           plan.create_time)
        if values:
            updates.setdefault(obj, []).append((openid, {"Id": person_id, **values}))
    for obj, items in updates.items():
        writes.append(Write("update", obj, "Id", tuple(r for _, r in items),
                            tuple(keys[o] for o, _ in items)))

    followers: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for openid, ps in groups.items():
        record: dict[str, Any] = {}
        for plan in ps:
            record.update(plan.follower_fields)
        links = next((p.link_fields for p in reversed(ps) if p.link_fields), {})
        person = persons.found.get(openid)
        if person and person[0] in links:
            record[links[person[0]]] = person[1]
        last = ps[-1]
        if last.lifecycle is not None:
            stage = _stage(ps, persons, (stages or {}).get(openid))
            if stage is not None and stage != (stages or {}).get(openid):
                record[last.lifecycle.field] = stage
        record[last.follower_key_field] = openid
        followers.setdefault((last.follower_object, last.follower_key_field), []).append(
            (openid, record))
    for (obj, key_field), items in followers.items():
        writes.append(Write("upsert", obj, key_field, tuple(r for _, r in items),
                            tuple(keys[o] for o, _ in items), links_optional=True))
    writes += _capture_writes(plans)
    writes += member_writes(plans, persons.found, facts or CampaignFacts())
    return writes


def _stage(plans: list[EventPlan], persons: Persons, current: str | None) -> str | None:
    """The follower's lifecycle stage after its ``plans`` (oldest first), from
    ``current``: the rules each event fires, given what is known of its person (the row
    the lookup read, or the record the batch creates)."""
    openid, life = plans[-1].openid, plans[-1].lifecycle
    obj, person = persons.found.get(openid, (None, None))
    row = persons.rows.get(openid)
    if isinstance(person, Ref) and openid in persons.to_create:
        row = persons.to_create[openid][2]
    hits = [rule for plan in plans for rule in life.fired(plan.kind, obj, row)]
    return next_stage(life.stages, current, hits)


def _capture_writes(plans: list[EventPlan]) -> list[Write]:
    """One record per captured event, linked to its follower (upserted earlier in the
    batch, hence a Ref); keyed by the event's dedupe key, so a resend records it once."""
    captures: dict[tuple[str, str], list[tuple[dict[str, Any], tuple[str, ...]]]] = {}
    for plan in plans:
        cap = plan.capture
        if cap is None:
            continue
        record = {**cap.fields, cap.key_field: cap.key}
        if cap.follower_link:
            record[cap.follower_link] = Ref(plan.follower_object, plan.follower_key_field,
                                            plan.openid)
        captures.setdefault((cap.object, cap.key_field), []).append((record, (plan.key,)))
    return [Write("upsert", obj, key_field, tuple(r for r, _ in items),
                  tuple(e for _, e in items), links_optional=True)
            for (obj, key_field), items in captures.items()]
