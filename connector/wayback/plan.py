"""What the way back writes to followers: remarks and tags, planned against WeChat's
state (pure: no I/O).

A changed Salesforce record asks, per follower, for a remark and/or a set of tag names
(:class:`Wish`). :func:`plan_account` compares the wishes of one Official Account with
its followers' profiles and its tags and returns the writes that change something
(:class:`AccountPlan`): a follower whose remark and tags already are what Salesforce says
costs no call, so a value the bridge itself wrote to Salesforce can never bounce back as
a write. WeChat's limits are applied here, each refusal with a reason for the log:

- a remark is under 30 bytes of UTF-8: longer text is cut to 29 bytes, never inside a
  character;
- a tag name is 1 to 30 bytes; at most 100 tags per account (names beyond are not
  created) and 20 per follower (tags beyond are not added);
- only *managed* tags are added or removed: those whose names start with the mapping's
  ``way_back.tags.prefix`` (all of them when it is empty), never WeChat's reserved ones;
- tagging goes 50 openids per call (:data:`TAGGING_BATCH`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connector.follower import Follower
from mappings.transforms import truncate_bytes

REMARK_MAX_BYTES = 29  # "under 30 bytes"
TAG_NAME_MAX_BYTES = 30
MAX_TAGS_PER_ACCOUNT = 100
MAX_TAGS_PER_FOLLOWER = 20
TAGGING_BATCH = 50
RESERVED_TAG_IDS = frozenset({0, 1, 2})  # WeChat's own (2 is 星标组): never touched


def cut_remark(text: str) -> str:
    """``text`` cut to fit a remark (29 bytes of UTF-8), never inside a character."""
    return truncate_bytes(text, str(REMARK_MAX_BYTES))


def split_tags(text: str | None, separator: str) -> list[str]:
    """Tag names in a field's text: split, stripped, blanks and repeats dropped."""
    names = [part.strip() for part in (text or "").split(separator)]
    return list(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class Wish:
    """What one changed record asks of one follower. ``remark``: None leaves it as it
    is, ``""`` clears it. ``tags``: None leaves the tags, a set is the managed tags the
    follower should carry (the empty set removes them all). ``source`` names the record
    (``Lead/00Q…``) for the log."""

    openid: str
    source: str
    remark: str | None = None
    tags: frozenset[str] | None = None


@dataclass
class AccountPlan:
    """The writes for one account: ``remarks`` (openid → remark), ``create`` (tag names
    to create), ``tag`` (tag name → openids to tag), ``untag`` (tag id → openids);
    ``refused``: what WeChat's limits or state keep from being written, with reasons;
    ``unchanged``: followers already as Salesforce says."""

    remarks: dict[str, str] = field(default_factory=dict)
    create: list[str] = field(default_factory=list)
    tag: dict[str, list[str]] = field(default_factory=dict)
    untag: dict[int, list[str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.remarks or self.create or self.tag or self.untag)

    def calls(self) -> int:
        """WeChat API calls the plan costs (tagging in batches of 50)."""
        batches = sum(-(-len(o) // TAGGING_BATCH) for o in (*self.tag.values(),
                                                               *self.untag.values()))
        return len(self.remarks) + len(self.create) + batches


def merge(wishes: Iterable[Wish]) -> dict[str, Wish]:
    """One wish per follower: a later wish's remark or tags replace an earlier one's."""
    merged: dict[str, Wish] = {}
    for wish in wishes:
        before = merged.get(wish.openid)
        if before is None:
            merged[wish.openid] = wish
            continue
        merged[wish.openid] = Wish(
            wish.openid, f"{before.source}, {wish.source}",
            wish.remark if wish.remark is not None else before.remark,
            wish.tags if wish.tags is not None else before.tags)
    return merged


def plan_account(wishes: Iterable[Wish], profiles: dict[str, Follower],
                 tag_names: dict[int, str], *, prefix: str = "") -> AccountPlan:
    """The writes that bring one account's followers to what Salesforce asks.

    Args:
        wishes: what the changed records ask (several for one follower: merged).
        profiles: the followers' current profiles (a missing one: WeChat does not know
            the openid).
        tag_names: the account's tags, id → name.
        prefix: the managed tags' name prefix (``way_back.tags.prefix``).
    """
    plan = AccountPlan()
    ids_by_name = {name: tag_id for tag_id, name in tag_names.items()}
    creatable = MAX_TAGS_PER_ACCOUNT - sum(1 for t in tag_names if t not in RESERVED_TAG_IDS)
    for openid, wish in sorted(merge(wishes).items()):
        profile = profiles.get(openid)
        if profile is None or not profile.subscribed:
            state = "does not follow the account" if profile else "is unknown to WeChat"
            plan.refused.append(f"{wish.source}: follower {openid} {state}; not written")
            continue
        changed = False
        if wish.remark is not None:
            remark = cut_remark(wish.remark)
            if remark != profile.remark:
                plan.remarks[openid] = remark
                changed = True
        if wish.tags is not None:
            add, remove = _tag_changes(wish, profile, tag_names, prefix, plan)
            for name in add:
                if name not in ids_by_name and name not in plan.create:
                    if creatable <= 0:
                        plan.refused.append(
                            f"{wish.source}: tag {name!r} not created: the account has "
                            f"{MAX_TAGS_PER_ACCOUNT} tags, WeChat's limit — delete unused "
                            "tags in the WeChat console")
                        continue
                    plan.create.append(name)
                    creatable -= 1
                if name in ids_by_name or name in plan.create:
                    plan.tag.setdefault(name, []).append(openid)
                    changed = True
            for tag_id in remove:
                plan.untag.setdefault(tag_id, []).append(openid)
                changed = True
        plan.unchanged += not changed
    return plan


def _tag_changes(wish: Wish, profile: Follower, tag_names: dict[int, str], prefix: str,
                 plan: AccountPlan) -> tuple[list[str], list[int]]:
    """Tag names to add and tag ids to remove for one follower, within the limits."""
    wanted = []
    for name in sorted(wish.tags or ()):
        if not name.startswith(prefix):
            continue  # not the bridge's: WeChat's staff manage it
        if len(name.encode("utf-8")) > TAG_NAME_MAX_BYTES:
            plan.refused.append(f"{wish.source}: tag {name!r} is over {TAG_NAME_MAX_BYTES} "
                                "bytes (10 Chinese characters), WeChat's limit; not added")
            continue
        wanted.append(name)
    current = {tag_id: tag_names.get(tag_id) for tag_id in profile.tag_ids}
    have = {name for name in current.values() if name is not None}
    remove = [tag_id for tag_id, name in sorted(current.items())
              if tag_id not in RESERVED_TAG_IDS and name is not None
              and name.startswith(prefix) and name not in wanted]
    add = [name for name in wanted if name not in have]
    room = MAX_TAGS_PER_FOLLOWER - (len(current) - len(remove))
    if len(add) > room:
        plan.refused.append(
            f"{wish.source}: follower {profile.openid} would have more than "
            f"{MAX_TAGS_PER_FOLLOWER} tags, WeChat's limit; not added: "
            f"{', '.join(add[max(room, 0):])}")
        add = add[:max(room, 0)]
    return add, remove
