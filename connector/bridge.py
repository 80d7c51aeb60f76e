"""Apply write plans to Salesforce, many events at a time.

For a batch of plans the bridge spends at most: one query per match rule (per 200
values), one upsert call for created persons, one update call for matched persons, one
upsert call for followers, and one create call for campaign members (per 200 records).
Every write is idempotent — upserts by external id, and "already a campaign member"
counts as success — so a retried batch never duplicates anything.

Per-record failures are returned per event key; only failures of a whole call
(network, 5xx, limits) raise, and then the caller retries the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.errors import BridgeError
from mappings.plan import EventPlan, Lookup

log = logging.getLogger(__name__)

IN_CHUNK = 200  # values per IN (...) clause: keeps the query URL far below 16 KB
DUPLICATE_MEMBER = "DUPLICATE_VALUE"  # on CampaignMember create: already a member


class SaveResultLike(Protocol):
    id: str | None
    success: bool
    errors: Sequence[BridgeError]


class Gateway(Protocol):
    """The Salesforce verbs the bridge needs (``connector.salesforce.SalesforceGateway``)."""

    def query(self, template: str, **params: Any) -> list[dict]: ...
    def upsert_many(self, sobject: str, ext_field: str,
                    records: list[dict]) -> list[SaveResultLike]: ...
    def create_many(self, sobject: str, records: list[dict]) -> list[SaveResultLike]: ...
    def update_many(self, sobject: str, records: list[dict]) -> list[SaveResultLike]: ...


@dataclass
class BatchOutcome:
    """What happened to each event of a batch."""

    errors: dict[str, BridgeError] = field(default_factory=dict)
    persons: dict[str, tuple[str, str]] = field(default_factory=dict)  # openid -> (object, id)
    created: set[str] = field(default_factory=set)  # openids whose person was created
    members: int = 0

    def fail(self, keys: Iterable[str], error: BridgeError) -> None:
        for key in keys:
            self.errors.setdefault(key, error)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _latest_per_openid(plans: list[EventPlan]) -> dict[str, list[EventPlan]]:
    """Plans grouped by follower, oldest first, so later events' values win."""
    groups: dict[str, list[EventPlan]] = {}
    for plan in sorted(plans, key=lambda p: p.create_time):
        groups.setdefault(plan.openid, []).append(plan)
    return groups


def find_persons(gateway: Gateway, lookups: list[Lookup]) -> dict[tuple[str, str, str], str]:
    """One query per (object, field) and 200 values: {(object, field, value): Id}."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for lookup in lookups:
        wanted.setdefault((lookup.object, lookup.field), set()).add(lookup.value)
    found: dict[tuple[str, str, str], str] = {}
    for (obj, fld), values in wanted.items():
        for chunk in _chunks(sorted(values), IN_CHUNK):
            rows = gateway.query(
                "SELECT Id, {:literal} FROM {:literal} WHERE {:literal} IN {values} "
                "ORDER BY CreatedDate ASC",
                fld, obj, fld, values=chunk,
            )
            for row in rows:
                # the oldest record wins when several carry the same value
                found.setdefault((obj, fld, str(row[fld])), row["Id"])
    return found


def apply_plans(gateway: Gateway, plans: list[EventPlan]) -> BatchOutcome:
    """Write ``plans`` to Salesforce.

    Raises:
        RetriableError, FatalError: a whole call failed; nothing is known per record.
    """
    out = BatchOutcome()
    groups = _latest_per_openid(plans)
    _resolve_persons(gateway, groups, out)
    _upsert_followers(gateway, groups, out)
    _add_members(gateway, plans, out)
    return out


def _resolve_persons(gateway: Gateway, groups: dict[str, list[EventPlan]],
                     out: BatchOutcome) -> None:
    with_person = {oid: [p for p in ps if p.person] for oid, ps in groups.items()}
    with_person = {oid: ps for oid, ps in with_person.items() if ps}
    if not with_person:
        return
    lookups = [lk for ps in with_person.values() for p in ps for lk in p.person.lookups]
    found = find_persons(gateway, lookups)

    to_create: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    to_update: dict[str, dict[str, dict]] = {}
    for openid, ps in with_person.items():
        latest = ps[-1].person
        hit = next(((lk.object, found[(lk.object, lk.field, lk.value)])
                    for lk in latest.lookups if (lk.object, lk.field, lk.value) in found), None)
        if hit:
            out.persons[openid] = hit
            updates = latest.update_fields.get(hit[0])
            if updates:
                to_update.setdefault(hit[0], {})[hit[1]] = {"Id": hit[1], **updates}
        elif latest.create_object and latest.create_key:
            record = {**latest.create_fields, latest.create_key.field: latest.create_key.value}
            key = (latest.create_object, latest.create_key.field)
            to_create.setdefault(key, []).append((openid, record))

    for (obj, ext_field), items in to_create.items():
        for chunk in _chunks(items, IN_CHUNK):
            results = gateway.upsert_many(obj, ext_field, [rec for _, rec in chunk])
            for (openid, _), result in zip(chunk, results, strict=True):
                if result.success and result.id:
                    out.persons[openid] = (obj, result.id)
                    if getattr(result, "created", False):
                        out.created.add(openid)
                else:
                    out.fail([p.key for p in groups[openid]], result.errors[0])
    for obj, records in to_update.items():
        rows = list(records.values())
        for chunk in _chunks(rows, IN_CHUNK):
            for record, result in zip(chunk, gateway.update_many(obj, chunk), strict=True):
                if not result.success:
                    openids = [o for o, (_, pid) in out.persons.items() if pid == record["Id"]]
                    out.fail([p.key for o in openids for p in groups[o]], result.errors[0])


def _upsert_followers(gateway: Gateway, groups: dict[str, list[EventPlan]],
                      out: BatchOutcome) -> None:
    by_object: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for openid, ps in groups.items():
        record: dict[str, Any] = {}
        for plan in ps:  # oldest first: later events overwrite
            record.update(plan.follower_fields)
        last = ps[-1]
        person = out.persons.get(openid)
        links = next((p.link_fields for p in reversed(ps) if p.link_fields), {})
        if person and person[0] in links:
            record[links[person[0]]] = person[1]
        record[last.follower_key_field] = openid
        by_object.setdefault((last.follower_object, last.follower_key_field), []).append(
            (openid, record))
    for (obj, ext_field), items in by_object.items():
        for chunk in _chunks(items, IN_CHUNK):
            results = gateway.upsert_many(obj, ext_field, [rec for _, rec in chunk])
            for (openid, _), result in zip(chunk, results, strict=True):
                if not result.success:
                    out.fail([p.key for p in groups[openid]], result.errors[0])


def _add_members(gateway: Gateway, plans: list[EventPlan], out: BatchOutcome) -> None:
    # one member per (campaign, person), however often the person scanned
    pairs: dict[tuple[str, str, str], tuple[str | None, list[str]]] = {}
    for plan in sorted(plans, key=lambda p: p.create_time):
        person = out.persons.get(plan.openid)
        if not plan.campaign_id or not person or plan.key in out.errors:
            continue
        pair = (plan.campaign_id, *person)
        status, keys = pairs.get(pair, (plan.member_status, []))
        pairs[pair] = (status, [*keys, plan.key])
    items = []
    for (campaign_id, obj, person_id), (status, keys) in pairs.items():
        record = {"CampaignId": campaign_id, f"{obj}Id": person_id}
        if status:
            record["Status"] = status
        items.append((keys, record))
    for chunk in _chunks(items, IN_CHUNK):
        results = gateway.create_many("CampaignMember", [rec for _, rec in chunk])
        for (keys, _), result in zip(chunk, results, strict=True):
            if result.success:
                out.members += 1
            elif any(err.code == DUPLICATE_MEMBER for err in result.errors):
                continue  # already a member: the write this event wanted is in place
            else:
                out.fail(keys, result.errors[0])
