"""The way back, read from a whole mapping: which fields flow back to WeChat, per
object, and how records of an object find their followers (pure).

These read several sections at once (``follower``, ``match``, ``objects``,
``way_back``), so they live beside the model rather than in ``way_back_section.py``,
which the model is made of. :func:`way_back_problems` is the loader's check of them.
"""

from __future__ import annotations

from mappings.models import Mapping
from mappings.way_back_section import REMARK, BackRule, FollowerFinder, separator


def back_rules(mapping: Mapping) -> dict[str, list[BackRule]]:
    """The fields that flow back to WeChat, per object (``conflict: dont_sync`` ones and
    objects left out of ``way_back.objects`` excluded; nothing when disabled)."""
    section = mapping.way_back
    if not section.enabled:
        return {}
    places: list[tuple[str, tuple[str | int, ...], dict]] = [
        (mapping.follower.object, ("follower", "fields"), mapping.follower.fields)]
    places += [(obj, ("objects", obj), rules) for obj, rules in mapping.objects.items()]
    found: dict[str, list[BackRule]] = {}
    for obj, path, rules in places:
        if section.objects is not None and obj not in section.objects:
            continue
        for name, rule in rules.items():
            if rule.sync == "to_salesforce" or rule.conflict == "dont_sync":
                continue
            target = "remark" if rule.source == REMARK else "tags"
            found.setdefault(obj, []).append(BackRule(
                object=obj, field=name, target=target, path=(*path, name),
                separator=separator(rule.transform, section.tags), default=rule.default,
                map=tuple((rule.map or {}).items()), conflict=rule.conflict))
    return found


def follower_finder(mapping: Mapping, obj: str) -> FollowerFinder | None:
    """How records of ``obj`` find their followers (None: they cannot)."""
    follower = mapping.follower
    account = next((name for name, rule in follower.fields.items()
                    if rule.source == "event.account"), None)
    if obj == follower.object:
        return FollowerFinder(obj, openid_field=follower.external_id, account_field=account)
    how = mapping.way_back.followers
    openid_field = next((m.field for m in mapping.match
                         if m.object == obj and m.source == "follower.openid"), None)
    link_field = follower.link.get(obj)
    if how in ("auto", "openid_field") and openid_field:
        return FollowerFinder(obj, openid_field=openid_field)
    if how in ("auto", "link") and link_field:
        return FollowerFinder(obj, link_field=link_field, account_field=account)
    return None


def way_back_problems(mapping: Mapping) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems only the whole file shows, as (key path, message): watched objects
    without fields that flow back, and objects whose records cannot find followers."""
    section = mapping.way_back
    problems = []
    flowing = set(back_rules(mapping.model_copy(
        update={"way_back": section.model_copy(update={"objects": None})})))
    for i, obj in enumerate(section.objects or ()):
        if obj not in flowing:
            problems.append((("way_back", "objects", i), (
                f"way_back.objects lists {obj}, but no field rule of {obj} has sync: "
                "to_wechat or both — add sync: both to its remark or tag field, or remove "
                f"{obj} from the list")))
    for obj in back_rules(mapping):
        if follower_finder(mapping, obj) is None:
            how = section.followers
            problems.append((("way_back", "followers"), (
                f"records of {obj} cannot find their followers with followers: {how} — add "
                f"a match rule on {obj} with source: follower.openid, or a follower.link "
                f"for {obj}")))
    return problems
