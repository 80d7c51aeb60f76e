"""Campaign auto-replies: read from Salesforce, kept in Redis, found for events.

The model is :mod:`connector.replies.model`, the Redis keys
:mod:`connector.replies.cache`. This module does the I/O around them:

- :func:`refresh_replies` (the change poller, for changed Campaigns) and
  :func:`refresh_all` (``connector replies refresh``) fill the cache;
- :func:`load_replies` / :func:`load_scene_replies`: one query for many campaigns (or
  scene values) on a cache miss, cached, "no reply" and "no such Campaign" included;
- :func:`replies_for`: the reply of each target, from the cache, loading what is missing.

Queries go through the gateway's ``format_soql`` templates; field names come from the
validated mapping.

Raises (every function that queries): RetriableError, FatalError from the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from connector.context import WorkerContext
from connector.ids import short_id
from connector.replies.cache import NO_CAMPAIGN, NO_REPLY, ReplyCache
from connector.replies.model import Reply, ReplyTarget, reply_from_record, welcome_reply
from mappings.models import Mapping

log = logging.getLogger(__name__)

BY_ID = "SELECT Id, {:literal} FROM Campaign WHERE Id IN {ids}"
BY_FIELD = "SELECT Id, {:literal} FROM Campaign WHERE {:literal} IN {values}"
EVERY = "SELECT Id, {:literal} FROM Campaign"


def scene_fields(mapping: Mapping) -> list[str]:
    """The Campaign fields scenes are looked up by (``campaigns.resolve: {field: ...}``,
    top-level or per account)."""
    fields = [m.campaigns.resolve.field for m in mapping.account_mappings().values()
              if m.campaigns.resolve != "id"]
    return list(dict.fromkeys(fields))


def selected_fields(mapping: Mapping) -> list[str]:
    """The Campaign fields a refresh needs: the reply fields and the scene fields."""
    return list(dict.fromkeys(mapping.replies.reply_fields() + scene_fields(mapping)))


def _store_rows(ctx: WorkerContext, rows: list[dict], missing: Iterable[str] = ()
                ) -> dict[str, Reply | None]:
    """Cache the replies (and scene links) of Campaign ``rows``; ``missing``: Ids no
    Campaign has (deleted ones count as missing). The replies by 15-char Id."""
    mapping: Mapping = ctx.mapping
    section, cache = mapping.replies, ReplyCache(ctx.redis)
    replies: dict[str, Reply | str | None] = dict.fromkeys((short_id(i) for i in missing),
                                                           NO_CAMPAIGN)
    links: dict[str, dict[str, str | None]] = {f: {} for f in scene_fields(mapping)}
    for row in rows:
        campaign_id = short_id(str(row["Id"]))
        if row.get("IsDeleted"):
            replies[campaign_id] = NO_CAMPAIGN
            for links_of in links.values():
                links_of[campaign_id] = None
            continue
        replies[campaign_id] = reply_from_record(row, section)
        for fld, links_of in links.items():
            if fld in row:
                links_of[campaign_id] = str(row[fld]) if row[fld] else None
    cache.store(replies, section.cache_ttl)
    for fld, links_of in links.items():
        cache.store_scenes(fld, links_of, (), section.cache_ttl)
    return {i: r if isinstance(r, Reply) else None for i, r in replies.items()}


def load_replies(ctx: WorkerContext, campaign_ids: Iterable[str]) -> dict[str, Reply | None]:
    """Read the campaigns' replies from Salesforce (one query, more when the Ids pass
    what one query's URL takes) and cache them; by 15-char Id, None for no reply or no
    such Campaign."""
    ids = sorted({short_id(str(i)) for i in campaign_ids if i})
    fields = selected_fields(ctx.mapping)
    if not ids or not fields:
        return dict.fromkeys(ids)
    rows = ctx.salesforce.query_in(BY_ID, ", ".join(fields), split="ids", ids=ids)
    found = {short_id(str(r["Id"])) for r in rows}
    out = _store_rows(ctx, rows, [i for i in ids if i not in found])
    log.info("loaded the replies of %d campaigns (%d found)", len(ids), len(found))
    return out


def load_scene_replies(ctx: WorkerContext, field: str, values: Iterable[str]
                       ) -> dict[str, str | None]:
    """Find the Campaigns whose ``field`` holds each scene value (one query, more when
    the values pass what one query's URL takes), caching their replies and the links;
    the 15-char Id by value, None when no Campaign holds it. Salesforce compares the
    values case-insensitively."""
    values = sorted(set(values))
    fields = list(dict.fromkeys(selected_fields(ctx.mapping) + [field]))
    rows = ctx.salesforce.query_in(BY_FIELD, ", ".join(fields), field, split="values",
                                   values=values)
    by_value = {str(r[field]).casefold(): short_id(str(r["Id"])) for r in rows if r.get(field)}
    _store_rows(ctx, rows)
    missing = [v for v in values if v.casefold() not in by_value]
    ReplyCache(ctx.redis).store_scenes(field, {}, missing, ctx.mapping.replies.cache_ttl)
    return {v: by_value.get(v.casefold()) for v in values}


def refresh_replies(ctx: WorkerContext, campaign_records: list[dict]) -> int:
    """Re-cache the replies of changed Campaigns (for the change poller).

    A record that carries every field of :func:`selected_fields` (and ``Id``) is used as
    it is; the others are read again, in one query. A record with ``IsDeleted`` true is
    cached as no Campaign. Returns how many campaigns were refreshed; nothing is done
    when the mapping has no campaign replies.
    """
    if not ctx.mapping.replies.campaign_replies or not campaign_records:
        return 0
    needed = set(selected_fields(ctx.mapping))
    complete = [r for r in campaign_records if r.get("Id") and
                (r.get("IsDeleted") or needed <= r.keys())]
    stale = {str(r["Id"]) for r in campaign_records if r.get("Id")} - {
        str(r["Id"]) for r in complete}
    _store_rows(ctx, complete)
    if stale:
        load_replies(ctx, stale)
    return len(complete) + len(stale)


def refresh_all(ctx: WorkerContext) -> int:
    """Re-cache the reply of every Campaign in the org; how many."""
    fields = selected_fields(ctx.mapping)
    if not ctx.mapping.replies.campaign_replies:
        return 0
    rows = ctx.salesforce.query(EVERY, ", ".join(fields))
    _store_rows(ctx, rows)
    return len(rows)


def _reply_of(raw: str | None, target: ReplyTarget, welcome: Reply | None) -> Reply | None:
    """The reply a cached campaign value gives ``target`` (None, not cached even after
    a load, counts as no reply)."""
    if raw == NO_CAMPAIGN:
        return welcome if target.welcome else None
    return None if raw in (None, NO_REPLY) else Reply.from_json(raw)


def replies_for(ctx: WorkerContext, targets: Iterable[ReplyTarget]
                ) -> dict[ReplyTarget, Reply | None]:
    """Each target's reply (None: none), from the cache, loading the campaigns and scene
    values not cached (one query for all the campaigns, one per scene field)."""
    targets = list(dict.fromkeys(targets))
    cache, welcome = ReplyCache(ctx.redis), welcome_reply(ctx.mapping.replies)
    out: dict[ReplyTarget, Reply | None] = {}
    # scene values → campaign Ids first (cached, else queried)
    ids: dict[ReplyTarget, str | None] = {}
    by_field: dict[str, list[ReplyTarget]] = {}
    for t in targets:
        if t.scene_field is not None:
            by_field.setdefault(t.scene_field, []).append(t)
        else:
            ids[t] = t.campaign
    for fld, own in by_field.items():
        cached = cache.scenes(fld, [t.scene_value or "" for t in own])
        unknown = [v for v, c in cached.items() if c is None]
        loaded = load_scene_replies(ctx, fld, unknown) if unknown else {}
        for t in own:
            value = t.scene_value or ""
            got = cached.get(value) or loaded.get(value) or NO_CAMPAIGN
            ids[t] = None if got == NO_CAMPAIGN else got
    raw = cache.campaigns(i for i in ids.values() if i)
    missing = [i for i, v in raw.items() if v is None]
    if missing:
        load_replies(ctx, missing)
        raw.update(cache.campaigns(missing))
    for t, campaign_id in ids.items():
        if campaign_id is None:
            out[t] = welcome if t.welcome else None
        else:
            out[t] = _reply_of(raw.get(campaign_id), t, welcome)
    return out
