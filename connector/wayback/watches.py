"""What the bridge watches in Salesforce, and who handles the changes: one registry.

A :class:`Watch` names an object, the fields its handler reads, and the handler. Both
ways of noticing changes — the clock's poll (:mod:`connector.wayback.poll`) and Outbound
Messages (``webhooks/salesforce_outbound.py``) — feed the one change job
(:mod:`connector.wayback.changes`), which re-reads the changed records of an object once,
with the fields of every watch on it, and hands each watch its records.

Features plug in by a handler and a line in :func:`watches`. A handler is
``handler(ctx, records) -> summary`` (a JSON-safe dict for the job's result); records
are dicts with ``Id``, ``IsDeleted``, ``LastModifiedById``, ``SystemModstamp`` and the
watch's fields. By default a watch gets neither deleted records nor the bridge's own
writes (records last modified by its integration user: echoes); ``deletes=True`` and
``echoes=True`` opt in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from connector.context import WorkerContext
from connector.messaging.dispatch import dispatch_requests
from connector.qr.requests import create_requested
from connector.replies.campaigns import refresh_replies, selected_fields
from connector.replies.keyword_records import load_keywords
from connector.wayback.lifecycle import lifecycle_objects, reevaluate
from connector.wayback.sync import sync_followers, watched_fields
from mappings.reply_section import KEYWORD_FIELDS, KEYWORD_OBJECT

Handler = Callable[[WorkerContext, list[dict]], dict[str, Any]]


@dataclass(frozen=True)
class Watch:
    """Changes to ``object`` go to ``handler``, which reads ``fields`` of them."""

    name: str
    object: str
    fields: tuple[str, ...]
    handler: Handler
    echoes: bool = False  # True: the bridge's own writes too (each handler decides)
    deletes: bool = False  # True: deleted records too (IsDeleted)


def watches(ctx: WorkerContext) -> list[Watch]:
    """Every watch of this deployment (from its mapping). Other features add theirs here:
    QR code requests, campaign auto-replies, keyword replies, message requests."""
    found: list[Watch] = []
    found += way_back_watches(ctx)
    found += reply_watches(ctx)
    found += keyword_watches(ctx)
    found += qr_request_watches(ctx)
    found += message_watches(ctx)
    found += lifecycle_watches(ctx)
    return found


def lifecycle_watches(ctx: WorkerContext) -> list[Watch]:
    """Lifecycle stages: a Lead or Contact changed by sales re-evaluates its followers'
    stage (:mod:`connector.wayback.lifecycle`). Not the bridge's own writes: the inbound
    path evaluated the rules when it made them."""
    return [Watch(name="lifecycle", object=obj, fields=fields,
                  handler=partial(reevaluate, object_name=obj))
            for obj, fields in lifecycle_objects(ctx.mapping).items()]


def reply_watches(ctx: WorkerContext) -> list[Watch]:
    """Campaign auto-replies: a changed (or deleted) Campaign's reply is cached again, so
    the callback answers the next scan with it."""
    if not ctx.mapping.replies.campaign_replies:
        return []

    def refresh(context: WorkerContext, records: list[dict]) -> dict[str, Any]:
        return {"refreshed": refresh_replies(context, records)}

    return [Watch(name="campaign_replies", object="Campaign",
                  fields=tuple(f for f in selected_fields(ctx.mapping) if f != "Id"),
                  handler=refresh, deletes=True)]


def keyword_watches(ctx: WorkerContext) -> list[Watch]:
    """Keyword replies: any change to a rule record (an edit, a new or deleted one)
    reloads every rule (one query: they are few, and a changed order or a deleted rule
    needs the whole set), so the callback answers with them within a poll interval, or
    at once with an Outbound Message on the object."""
    if not ctx.mapping.replies.keywords:
        return []

    def reload(context: WorkerContext, records: list[dict]) -> dict[str, Any]:
        book = load_keywords(context)
        return {"rules": len(book.rules), "problems": len(book.problems)}

    return [Watch(name="keyword_replies", object=KEYWORD_OBJECT,
                  fields=tuple(f for f in KEYWORD_FIELDS if f != "Name"), handler=reload,
                  deletes=True)]


def qr_request_watches(ctx: WorkerContext) -> list[Watch]:
    """QR code requests: a record of a ``qr:`` object with its request flag ticked gets
    its code (and the flag cleared, by the bridge: an echo, not watched)."""
    def make(obj: str) -> Handler:
        def handler(context: WorkerContext, records: list[dict]) -> dict[str, Any]:
            typed = [{**r, "attributes": {"type": obj}} for r in records]
            return create_requested(context, typed).to_dict()
        return handler

    return [Watch(name="qr_requests", object=obj, fields=(config.request_field,),
                  handler=make(obj))
            for obj, config in ctx.mapping.qr.objects.items() if config.request_field]


def way_back_watches(ctx: WorkerContext) -> list[Watch]:
    """The remark and tag sync: one watch per object whose fields flow back. It takes the
    bridge's own writes (to record what they synced, never to send them) and deletes (to
    forget them)."""
    return [Watch(name="remarks_and_tags", object=obj, fields=tuple(fields),
                  handler=partial(sync_followers, object_name=obj), echoes=True,
                  deletes=True)
            for obj, fields in watched_fields(ctx).items()]


def message_watches(ctx: WorkerContext) -> list[Watch]:
    """Message requests: changes of the request object with "send now" ticked start
    their send jobs."""
    fields = ctx.mapping.messages.request
    return [Watch(name="message_requests", object=fields.object,
                  fields=(fields.send, fields.status), handler=dispatch_requests)]


def watched_objects(ctx: WorkerContext) -> dict[str, list[str]]:
    """Each watched object with the fields all its watches read (each once)."""
    objects: dict[str, list[str]] = {}
    for watch in watches(ctx):
        names = objects.setdefault(watch.object, [])
        names += [f for f in watch.fields if f not in names]
    return objects
