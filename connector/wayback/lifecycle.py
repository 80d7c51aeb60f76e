"""The way back's lifecycle watch: a Lead or Contact that sales changed → its followers'
lifecycle stage, re-evaluated with the mapping's ``lifecycle:`` rules.

The inbound path evaluates the rules on each WeChat event; without this watch a Lead
that gets an Email stays "Engaged" until the follower scans again. Both ways of
noticing changes (the clock's poll, Outbound Messages on Lead or Contact) run the one
change job (:mod:`.changes`), which hands :func:`reevaluate` the re-read persons, with
the fields the rules compare.

The rules are the inbound path's own (:meth:`mappings.lifecycle.Lifecycle.fired` and
:func:`mappings.lifecycle.next_stage`, pure): a person change is an event of no kind, so
only the rules on the person's object and fields fire, and the stage only moves forward
(unless a ``backwards`` rule fired). A follower already at the stage costs no write, so a
repeated notification writes nothing.

No loop: the stage is written on the follower record (the follower object is not a
person, so this watch never sees it), and the bridge's own writes to Leads and Contacts
(``LastModifiedById``: its integration user) are kept from this watch: the inbound path
has already evaluated the rules for them.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.context import WorkerContext
from connector.errors import RetriableError
from connector.ids import short_id
from mappings.lifecycle import Lifecycle, next_stage
from mappings.models import Mapping

log = logging.getLogger(__name__)

FOLLOWERS = ("SELECT Id, {:literal}, {:literal}, {:literal} FROM {:literal} "
             "WHERE {:literal} IN {ids}")


def lifecycle_objects(mapping: Mapping) -> dict[str, tuple[str, ...]]:
    """The person objects whose changes can move a stage, with the fields the rules
    compare (empty when a rule only asks for the object). Only objects the follower
    links to (``follower.link``): the others cannot find their followers."""
    if mapping.lifecycle is None:
        return {}
    life = mapping.lifecycle.plan()
    fields = life.person_fields()
    objects = {r.object for r in life.rules if r.object} & set(mapping.follower.link)
    return {obj: tuple(sorted(fields.get(obj, ()))) for obj in sorted(objects)}


def reevaluate(ctx: WorkerContext, records: list[dict], *, object_name: str
               ) -> dict[str, Any]:
    """Move the stage of the followers linked to the changed ``records`` (current
    values of ``object_name``, re-read) as the rules say; one query for the followers,
    one update call per 200 moved.

    Raises:
        RetriableError: Salesforce failed for now, or a follower's update did (the job
            retries; followers already moved are found at their stage and left).
        FatalError: Salesforce refused the query (a field of the rules is missing).
    """
    mapping = ctx.mapping
    if mapping.lifecycle is None or object_name not in mapping.follower.link:
        return {"followers": 0}
    life = mapping.lifecycle.plan()
    persons = {short_id(r["Id"]): r for r in records if not r.get("IsDeleted")}
    follower = mapping.follower
    link = follower.link[object_name]
    rows = ctx.salesforce.query_in(
        FOLLOWERS, follower.external_id, life.field, link, follower.object, link,
        split="ids", ids=sorted(r["Id"] for r in persons.values()))
    moves = stage_moves(life, object_name, persons, rows, link)
    if moves:
        results = ctx.salesforce.update_many(
            follower.object, [{"Id": fid, life.field: stage} for fid, stage in moves])
        failed = [e for r in results for e in r.errors]
        if failed:
            raise RetriableError(f"lifecycle stage not written for {len(failed)} "
                                 f"followers: {failed[0].message}", system="salesforce")
    log.info("lifecycle: %d followers of %d changed %s, %d moved", len(rows),
             len(persons), object_name, len(moves))
    return {"followers": len(rows), "moved": len(moves)}


def stage_moves(life: Lifecycle, object_name: str, persons: dict[str, dict],
                followers: list[dict], link: str) -> list[tuple[str, str]]:
    """(follower Id, new stage) for each follower whose stage the rules move, given its
    person's current values (``persons``: by 15-character Id). Pure."""
    moves = []
    for row in followers:
        person = persons.get(short_id(row.get(link) or ""))
        if person is None:
            continue
        current = row.get(life.field)
        stage = next_stage(life.stages, current, life.fired("", object_name, person))
        if stage is not None and stage != current:
            moves.append((row["Id"], stage))
    return moves
