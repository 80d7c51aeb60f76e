"""The exact Salesforce writes a batch of plans causes, as data (:mod:`.calls`): what
``connector mappings preview`` prints and what :mod:`.apply` executes. Pure.
"""

from __future__ import annotations

from typing import Any

from connector.inbound.calls import Ref, Write
from connector.inbound.conflicts import updatable
from connector.inbound.members import CampaignFacts, member_writes
from connector.inbound.persons import Persons, by_follower, latest_person_plans
from mappings.lifecycle import next_stage
from mappings.plan import EventPlan


def plan_writes(plans: list[EventPlan], persons: Persons,
                facts: CampaignFacts | None = None,
                stages: dict[str, str | None] | None = None) -> list[Write]:
    """The writes, in the order they must run. ``facts``: what the campaign queries found
    (none are needed for the default mapping). A matched person's update leaves out the
    values its conflict policies keep (:mod:`.conflicts`). ``stages``: the
    followers' lifecycle stages in Salesforce (openid → stage), when the mapping has a
    ``lifecycle:``. Pure."""
    groups = by_follower(plans)
    keys = {openid: tuple(p.key for p in ps) for openid, ps in groups.items()}
    writes: list[Write] = []

    # One record per key: followers who share it (a UnionID across accounts, an e-mail)
    # make one person, the later follower's values winning as a second upsert's would;
    # Salesforce refuses every record of a call that carries a key twice. Upserted by a
    # key no lookup found, so created: the org's assignment rule runs on them when the
    # mapping asks (``salesforce_rules.assignment_rules``).
    latest = latest_person_plans(plans)
    creates: dict[tuple[str, str, bool], dict[str, tuple[dict, tuple[str, ...]]]] = {}
    for openid, (obj, key_field, record) in persons.to_create.items():
        assign = latest[openid].person.assign_on_create
        same = creates.setdefault((obj, key_field, assign), {})
        merged, events = same.get(record[key_field], ({}, ()))
        same[record[key_field]] = ({**merged, **record}, events + keys[openid])
    for (obj, key_field, assign), items in creates.items():
        writes.append(Write("upsert", obj, key_field, tuple(r for r, _ in items.values()),
                            tuple(e for _, e in items.values()), assign=assign))

    updates: dict[str, list[tuple[str, dict]]] = {}
    for openid, plan in latest.items():
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


def rounds(writes: list[Write]) -> list[list[Write]]:
    """``writes`` (in :func:`plan_writes`' order) cut into rounds that run one after the
    other: the writes of a round go out together (their sObject Collections requests five
    to a Composite call), so a round holds no write pointing at a record (a
    :class:`~connector.inbound.calls.Ref`) that another write of the same round upserts;
    CampaignMemberStatus creates are a round alone (added with their own retries before
    the members that need them). Pure."""
    out: list[list[Write]] = []
    upserted: set[tuple[str, str | None]] = set()  # what the current round upserts
    for write in writes:
        alone = write.object == "CampaignMemberStatus"
        points = {(v.object, v.key_field) for r in write.records for v in r.values()
                  if isinstance(v, Ref)}
        if not out or alone or points & upserted or out[-1][0].object == "CampaignMemberStatus":
            out.append([])
            upserted = set()
        out[-1].append(write)
        if write.action == "upsert":
            upserted.add((write.object, write.key_field))
    return out
