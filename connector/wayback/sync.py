"""The way back's own watch: changed Salesforce records → their followers' remark and
tags in WeChat.

:func:`sync_followers` gets the re-read records of one object (:mod:`.changes`), and
for each: finds its followers (the record's openid field, or the follower records that
link to it: one query per batch), reads the fields that flow back (``mappings/
way_back_section.py``), and skips it when nothing is to be sent:

- the values and followers hash to what was last synced for the record (Redis,
  ``bridge:changes:synced:<object>:<id>``): a repeated or out-of-order notification, a
  change to other fields, or the bridge's own write of what it had just synced;
- the record was last changed by the bridge's integration user: an echo of what the
  bridge wrote from WeChat. Its hash is recorded, so that an admin setting the field
  back to an older value is still sent.

The rest are planned against the followers' profiles (:mod:`connector.wayback.plan`,
pure: a follower already as Salesforce says costs no call) and written through the
account's gateway. WeChat's refusals of one follower or one name are logged and
counted; a retriable failure is raised (the job retries and plans again, so what was
written is not written twice).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from redis import RedisError

from connector.chunks import chunks
from connector.context import WorkerContext
from connector.errors import RetriableError, SkippableError
from connector.ids import same_id, short_id
from connector.wayback import counters
from connector.wayback.plan import TAGGING_BATCH, AccountPlan, Wish, plan_account, split_tags
from connector.wechat import UnknownAccount, WeChatGateway
from mappings.back_rules import back_rules, follower_finder
from mappings.way_back_section import BackRule, FollowerFinder

log = logging.getLogger(__name__)

SYNCED = "bridge:changes:synced:"
SYNCED_SECONDS = 30 * 86_400  # a record unchanged for a month is simply compared afresh
Follower = tuple[str | None, str]  # (account original id or None: the primary, openid)


def watched_fields(ctx: WorkerContext) -> dict[str, list[str]]:
    """The objects whose changes may set remarks or tags, with the fields to read."""
    mapping = ctx.mapping
    found: dict[str, list[str]] = {}
    for obj, rules in back_rules(mapping).items():
        finder = follower_finder(mapping, obj)
        if finder is None:
            log.warning("way back: records of %s cannot find their followers; not watched "
                        "(see way_back.followers)", obj)
            continue
        names = [r.field for r in rules] + [finder.openid_field or "Id"]
        if finder.openid_field and finder.account_field:
            names.append(finder.account_field)
        found[obj] = list(dict.fromkeys(names))
    return found


def sync_followers(ctx: WorkerContext, records: list[dict], *, object_name: str
                   ) -> dict[str, Any]:
    """Set the remarks and tags the changed ``records`` of ``object_name`` ask for.

    ``records`` are current (re-read) and include deleted ones (``IsDeleted``) and the
    bridge's own writes (``LastModifiedById``), each with ``Id``.

    Raises:
        RetriableError: Salesforce, WeChat or Redis failed in a way that may heal.
        FatalError: a query Salesforce refuses (the mapping names a missing field).
    """
    mapping = ctx.mapping
    rules = back_rules(mapping).get(object_name, [])
    finder = follower_finder(mapping, object_name)
    if not rules or finder is None:
        return {"records": len(records), "status": "not synced back"}
    live = [r for r in records if not r.get("IsDeleted")]
    _forget(ctx, object_name, [r["Id"] for r in records if r.get("IsDeleted")])
    followers = _followers(ctx, finder, live)
    digests = {r["Id"]: _digest(r, rules, followers.get(r["Id"], [])) for r in live}
    synced = _synced(ctx, object_name, list(digests))
    bridge_user = ctx.salesforce.identity().user_id
    wishes: dict[str | None, list[Wish]] = {}
    echoes, unchanged, sending = [], 0, []
    for record in live:
        record_id = record["Id"]
        if synced.get(record_id) == digests[record_id]:
            unchanged += 1
        elif same_id(record.get("LastModifiedById"), bridge_user):
            echoes.append(record_id)
        else:
            sending.append(record_id)
            for account, wish in _wishes(record, rules, followers.get(record_id, []),
                                         object_name):
                wishes.setdefault(account, []).append(wish)
    summary = {"records": len(records), "echoes": len(echoes), "unchanged": unchanged,
               "remarks": 0, "tagged": 0, "untagged": 0, "tags_created": 0, "refused": 0}
    for account, account_wishes in wishes.items():
        _write_account(ctx, account, account_wishes, summary)
    _remember(ctx, object_name, {i: digests[i] for i in echoes + sending})
    counters.count(ctx.redis, unchanged=unchanged, **{
        k: summary[k] for k in ("remarks", "tagged", "untagged", "tags_created", "refused")})
    return summary


# -- followers of records ----------------------------------------------------------------

def _followers(ctx: WorkerContext, finder: FollowerFinder, records: list[dict]
               ) -> dict[str, list[Follower]]:
    """Each record's followers, (account, openid), sorted."""
    if finder.openid_field is not None:
        found = {}
        for record in records:
            openid = record.get(finder.openid_field)
            account = record.get(finder.account_field) if finder.account_field else None
            found[record["Id"]] = [(account or None, openid)] if openid else []
        return found
    ids = [r["Id"] for r in records]
    if not ids:
        return {}
    follower = ctx.mapping.follower
    names = [follower.external_id, finder.link_field]
    if finder.account_field:
        names.append(finder.account_field)
    rows = ctx.salesforce.query_in("SELECT {:literal} FROM {:literal} WHERE {:literal} IN {ids}",
                                   ", ".join(dict.fromkeys(names)), follower.object,
                                   finder.link_field, split="ids", ids=ids)
    found: dict[str, list[Follower]] = {i: [] for i in ids}
    by_short = {short_id(i): i for i in ids}
    for row in rows:
        owner = by_short.get(short_id(str(row.get(finder.link_field) or "")))
        openid = row.get(follower.external_id)
        if owner and openid:
            account = row.get(finder.account_field) if finder.account_field else None
            found[owner].append((account or None, openid))
    return {i: sorted(set(f), key=lambda x: (x[0] or "", x[1])) for i, f in found.items()}


def _wishes(record: dict, rules: list[BackRule], followers: list[Follower], obj: str
            ) -> Iterable[tuple[str | None, Wish]]:
    """What the record asks of each of its followers."""
    remark: str | None = None
    tags: frozenset[str] | None = None
    for rule in rules:
        value = rule.wechat_value(record.get(rule.field))
        blank = value is None or (isinstance(value, str) and not value.strip())
        if blank and rule.conflict == "prefer_salesforce_unless_blank":
            continue  # a blank Salesforce field leaves WeChat's value as it is
        if rule.target == "remark":
            remark = remark if remark is not None else ("" if blank else str(value))
        else:
            names = frozenset(split_tags(None if blank else str(value), rule.separator))
            tags = names if tags is None else tags | names
    source = f"{obj}/{record['Id']}"
    for account, openid in followers:
        yield account, Wish(openid, source, remark=remark, tags=tags)


# -- writing -----------------------------------------------------------------------------

def _write_account(ctx: WorkerContext, account: str | None, wishes: list[Wish],
                   summary: dict[str, Any]) -> None:
    try:
        gateway = ctx.wechat.for_account(account)
    except UnknownAccount as why:
        _refuse(summary, [f"{w.source}: {why}" for w in wishes])
        return
    openids = sorted({w.openid for w in wishes})
    # Fresh profiles: a remark or tag changed in the WeChat console since the profile was
    # cached would otherwise make the plan skip a write it needs. Only records that
    # really changed get here (echoes and synced ones were dropped), so this is cheap.
    gateway.forget(*openids)
    profiles = gateway.get_profiles(openids)
    names = gateway.tag_names() if any(w.tags is not None for w in wishes) else {}
    plan = plan_account(wishes, profiles, names, prefix=ctx.mapping.way_back.tags.prefix)
    _refuse(summary, plan.refused)
    if not plan.empty:
        _apply(gateway, plan, names, summary)


def _apply(gateway: WeChatGateway, plan: AccountPlan, names: dict[int, str],
           summary: dict[str, Any]) -> None:
    """Write ``plan``: tags created, then tagging, untagging and remarks."""
    ids = {name: tag_id for tag_id, name in names.items()}
    for name in plan.create:
        try:
            ids[name] = gateway.create_tag(name)
            summary["tags_created"] += 1
        except SkippableError as err:
            if err.code == "45157":  # exists after all (made meanwhile): use it
                fresh = {n: i for i, n in gateway.tag_names(refresh=True).items()}
                if name in fresh:
                    ids[name] = fresh[name]
                    continue
            _refuse(summary, [f"tag {name!r} not created: {err}"])
    for name, openids in plan.tag.items():
        if name in ids:
            summary["tagged"] += _tagging(gateway, "batch_tag", ids[name], openids, summary)
    for tag_id, openids in plan.untag.items():
        summary["untagged"] += _tagging(gateway, "batch_untag", tag_id, openids, summary)
    for openid, remark in plan.remarks.items():
        try:
            gateway.update_remark(openid, remark)
            summary["remarks"] += 1
        except SkippableError as err:
            _refuse(summary, [f"remark of {openid} not set: {err}"])


def _tagging(gateway: WeChatGateway, verb: str, tag_id: int, openids: list[str],
             summary: dict[str, Any]) -> int:
    """Tag (or untag) ``openids`` 50 at a time; a batch WeChat refuses for one follower
    is split until that follower is alone (WeChat tags all of a batch or none)."""
    done = 0
    for batch in chunks(openids, TAGGING_BATCH):
        done += _tag_batch(gateway, verb, tag_id, batch, summary)
    return done


def _tag_batch(gateway: WeChatGateway, verb: str, tag_id: int, openids: list[str],
               summary: dict[str, Any]) -> int:
    try:
        getattr(gateway, verb)(tag_id, openids)
        return len(openids)
    except SkippableError as err:
        if err.code == "45159":  # deleted in the console since cached: plan again, fresh
            gateway.tag_names(refresh=True)
            raise RetriableError(f"tag {tag_id} no longer exists; planning again",
                                 system="wechat", code=err.code) from None
        if len(openids) == 1:
            _refuse(summary, [f"follower {openids[0]}, tag {tag_id}: {err}"])
            return 0
    half = len(openids) // 2
    return (_tag_batch(gateway, verb, tag_id, openids[:half], summary)
            + _tag_batch(gateway, verb, tag_id, openids[half:], summary))


def _refuse(summary: dict[str, Any], reasons: list[str]) -> None:
    for reason in reasons:
        log.warning("way back: %s", reason)
    summary["refused"] += len(reasons)


# -- what was synced ---------------------------------------------------------------------

def _digest(record: dict, rules: list[BackRule], followers: list[Follower]) -> str:
    values = {rule.field: record.get(rule.field) for rule in rules}
    text = json.dumps({"values": values, "followers": followers}, sort_keys=True,
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _key(obj: str, record_id: str) -> str:
    return f"{SYNCED}{obj}:{short_id(record_id)}"


def _synced(ctx: WorkerContext, obj: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    try:
        values = ctx.redis.mget([_key(obj, i) for i in ids])
    except RedisError as exc:
        raise RetriableError(f"Redis: {exc}", system="redis") from None
    return {i: v.decode() for i, v in zip(ids, values, strict=True) if v is not None}


def _remember(ctx: WorkerContext, obj: str, digests: dict[str, str]) -> None:
    if not digests:
        return
    try:
        with ctx.redis.pipeline(transaction=False) as pipe:
            for record_id, digest in digests.items():
                pipe.set(_key(obj, record_id), digest, ex=SYNCED_SECONDS)
            pipe.execute()
    except RedisError as exc:  # written already: at worst the next change compares afresh
        log.warning("way back: could not record what was synced: %s", exc)


def _forget(ctx: WorkerContext, obj: str, ids: list[str]) -> None:
    if ids:
        try:
            ctx.redis.delete(*(_key(obj, i) for i in ids))
        except RedisError as exc:
            log.warning("way back: could not forget deleted records: %s", exc)
