"""The org's text field lengths that the ``fit`` transform cuts to, for the worker and
preview (``plan_event(..., lengths=...)``; the engine itself stays pure).

Only objects with a ``fit`` rule are described, so a mapping without one costs no call.
Describe results are stable, and an RQ work horse is a fresh fork per job whose context
is rebuilt, so a cache in the process alone would describe once per job: the lengths are
kept in Redis for :data:`TTL` (shared by every work horse and preview), and in the
context for the rest of the job. A lengthened field is used within the TTL; until then
values are cut to the old, shorter length, which Salesforce accepts.
"""

from __future__ import annotations

import json
import logging

from connector.context import WorkerContext
from connector.errors import BridgeError
from mappings.engine import FieldLengths
from mappings.field_types import TEXT_FIELDS
from mappings.models import Mapping
from mappings.transforms import parse_chain

log = logging.getLogger(__name__)

KEY = "bridge:field-lengths:{}"  # per object: {field: length} as JSON
TTL = 3600  # seconds


def fitted_objects(mapping: Mapping) -> list[str]:
    """The objects with a rule whose transform chain has ``fit`` (in any account's
    mapping), in name order."""
    return sorted({use.object for effective in mapping.account_mappings().values()
                   for use in effective.field_uses()
                   if use.rule is not None and use.rule.transform
                   and any(name == "fit" for name, _ in parse_chain(use.rule.transform))})


def lengths_of(describe: dict) -> dict[str, int]:
    """{field: length} of the text fields of a describe (``GET sobjects/X/describe``)."""
    return {f["name"]: int(f["length"]) for f in describe.get("fields", [])
            if f.get("type") in TEXT_FIELDS and f.get("length")}


def field_lengths(ctx: WorkerContext) -> FieldLengths:
    """The lengths ``fit`` needs under ``ctx.mapping``: from the context, else Redis, else
    the gateway's describe (then kept in both). An object whose describe fails is left
    out, so its ``fit`` rules write values as they are (Salesforce's STRING_TOO_LONG then
    names the field), and is asked again next time.
    """
    out: dict[tuple[str, str], int] = {}
    for obj in fitted_objects(ctx.mapping):
        lengths = ctx.field_lengths.get(obj)
        if lengths is None:
            lengths = _cached_or_described(ctx, obj)
        if lengths is not None:
            ctx.field_lengths[obj] = lengths
            out.update(((obj, name), length) for name, length in lengths.items())
    return out


def _cached_or_described(ctx: WorkerContext, obj: str) -> dict[str, int] | None:
    cached = ctx.redis.get(KEY.format(obj))
    if cached is not None:
        return json.loads(cached)
    try:
        lengths = lengths_of(ctx.salesforce.describe(obj) or {})
    except BridgeError as error:
        log.warning("no field lengths for %s (fit writes values as they are): %s", obj, error)
        return None
    ctx.redis.set(KEY.format(obj), json.dumps(lengths), ex=TTL)
    return lengths
