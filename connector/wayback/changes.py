"""The change job's work: some records of one Salesforce object changed → every watch on
it.

Both ways of noticing changes enqueue a change job with record ids only: the clock's
poll (:mod:`connector.wayback.poll`) and Outbound Messages (``webhooks/
salesforce_outbound.py``, whose field values are never trusted: they are hints).
:func:`run_watches` re-reads the records (``queryAll``, as many ids a call as its URL
takes, so deleted ones come back with ``IsDeleted``), tells the bridge's own writes
apart (``LastModifiedById`` is its integration user: an echo, counted and kept from the
watches that do not ask for them) and hands each watch of
:mod:`connector.wayback.watches` its records. Reading the current values makes repeated
and out-of-order notifications harmless: the second run finds nothing new.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.context import WorkerContext
from connector.ids import is_record_id, same_id
from connector.wayback import counters
from connector.wayback.watches import watches

log = logging.getLogger(__name__)

SYSTEM_FIELDS = ("Id", "IsDeleted", "LastModifiedById", "SystemModstamp")


def run_watches(ctx: WorkerContext, object_name: str, record_ids: list[str]
                ) -> dict[str, Any]:
    """Read the records once, give each watch on ``object_name`` its own.

    Raises:
        RetriableError: Salesforce, WeChat or Redis failed for now (the job retries).
        FatalError: Salesforce refused the query (a watched field is missing, say).
    """
    mine = [w for w in watches(ctx) if w.object == object_name]
    if not mine:
        return {"object": object_name, "status": "not watched"}
    fields = list(SYSTEM_FIELDS)
    for watch in mine:
        fields += [f for f in watch.fields if f not in fields]
    records = read_records(ctx, object_name, fields, record_ids)
    bridge_user = ctx.salesforce.identity().user_id
    own = {r["Id"] for r in records if same_id(r.get("LastModifiedById"), bridge_user)}
    counters.count(ctx.redis, echoes=len(own))
    results = {}
    for watch in mine:
        given = [r for r in records if (watch.deletes or not r.get("IsDeleted"))
                 and (watch.echoes or r["Id"] not in own)]
        results[watch.name] = watch.handler(ctx, given) if given else {"records": 0}
    log.info("changes of %s: %d records read, %d the bridge's own; %s", object_name,
             len(records), len(own), results)
    return {"object": object_name, "records": len(records), "echoes": len(own),
            "watches": results}


def read_records(ctx: WorkerContext, object_name: str, fields: list[str],
                 record_ids: list[str]) -> list[dict]:
    """The current values of the records (deleted ones too), as many ids per query as
    its URL takes; ids Salesforce no longer has at all are left out."""
    ids = list(dict.fromkeys(i for i in record_ids if is_record_id(i)))
    return ctx.salesforce.query_in(
        "SELECT {:literal} FROM {:literal} WHERE Id IN {ids}", ", ".join(fields),
        object_name, split="ids", ids=ids, include_deleted=True)
