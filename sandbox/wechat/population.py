"""An Official Account's audience: followers (current and former) and the account's tags.

Generated deterministically from a seed, so a test or a benchmark can name a population
by ``(n, seed)``. State changes are the ones WeChat makes (a follow, an unfollow, a
remark, tagging), under one lock: the API handlers, the push helpers and test code may
call in from different threads. Records are immutable snapshots; every change stores a
new one.

Errors are raised as :class:`~sandbox.wechat.errors.ApiError` carrying WeChat's errcode
(40003 for an unknown openid, 45157/45158/45056/45058/45059/45159 for tags), because that
is how the API layer reports them; Python callers can read ``.errcode`` the same way.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import replace

from sandbox.wechat.errors import ApiError
from sandbox.wechat.profiles import ProfileFactory
from sandbox.wechat.record import FollowerRecord

MAX_TAGS = 100  # per account, WeChat's limit (45056)
MAX_TAGS_PER_USER = 20  # WeChat's limit (45059)
SYSTEM_TAGS = {2: "星标组"}  # 0, 1 and 2 are reserved; only 2 is visible in tags/get
FIRST_TAG_ID = 100  # WeChat numbers the account's own tags from 100


class Population:
    """Thread-safe followers in follow order, plus the account's tag definitions."""

    def __init__(self, factory: ProfileFactory, records: Iterable[FollowerRecord] = (),
                 tags: dict[int, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._factory = factory
        self._records: dict[str, FollowerRecord] = {}
        self._tags: dict[int, str] = dict(SYSTEM_TAGS)
        self._tags.update(tags or {})
        self._next_tag = max([FIRST_TAG_ID - 1, *self._tags]) + 1
        for record in records:
            self._records[record.openid] = record

    @classmethod
    def generate(cls, n: int, seed: int = 0, *, subscribed_fraction: float = 0.9,
                 unionid_fraction: float = 0.8, scenes: list[str] | None = None,
                 openid_prefix: str | None = None) -> Population:
        """``n`` people, of whom about ``subscribed_fraction`` still follow.

        The same ``(n, seed, options)`` always gives the same population. ``scenes`` are
        the QR scene strings that QR-code followers came from (default: a few campaign
        scenes ``sfc_<Campaign Id>``); ``openid_prefix`` (6 characters) overrides the
        app-specific prefix every openid shares.
        """
        rng = random.Random(seed)
        factory = ProfileFactory(rng, openid_prefix=openid_prefix, scenes=scenes,
                                 unionid_fraction=unionid_fraction)
        tags = factory.account_tags()
        records = [factory.follower(subscribed=rng.random() < subscribed_fraction,
                                    tag_ids=sorted(tags)) for _ in range(n)]
        return cls(factory, records, tags)

    # -- lookup ------------------------------------------------------------------------

    @property
    def openid_prefix(self) -> str:
        return self._factory.openid_prefix

    @property
    def scenes(self) -> list[str]:
        """The campaign scene strings generated followers came from."""
        return list(self._factory.scenes)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, openid: object) -> bool:
        return openid in self._records

    def get(self, openid: str) -> FollowerRecord | None:
        with self._lock:
            return self._records.get(openid)

    def lookup(self, openid: str) -> FollowerRecord:
        """The record of ``openid``. Raises: ApiError(40003) if WeChat never issued it."""
        record = self.get(openid)
        if record is None:
            raise ApiError(40003)
        return record

    def followers(self, *, subscribed: bool | None = True) -> list[FollowerRecord]:
        """Records in follow order; ``subscribed=None`` gives everyone."""
        with self._lock:
            return [r for r in self._records.values()
                    if subscribed is None or bool(r.subscribe) == subscribed]

    def openids(self, *, subscribed: bool | None = True) -> list[str]:
        return [r.openid for r in self.followers(subscribed=subscribed)]

    def page(self, after: str | None, size: int, *, tag_id: int | None = None
             ) -> tuple[int, list[str]]:
        """``(total, openids)``: subscribed followers (with ``tag_id``) after ``after``.

        Raises:
            ApiError(40003): ``after`` is not an openid of this account.
        """
        with self._lock:
            if after and after not in self._records:
                raise ApiError(40003)
            total, found, started = 0, [], after is None
            for openid, record in self._records.items():
                if record.subscribe and (tag_id is None or tag_id in record.tagid_list):
                    total += 1
                    if started and len(found) < size:
                        found.append(openid)
                # A former follower works as a cursor too: resume after their place.
                started = started or openid == after
            return total, found

    # -- what WeChat changes -----------------------------------------------------------

    def _update(self, openid: str, **changes) -> FollowerRecord:
        with self._lock:
            record = replace(self.lookup(openid), **changes)
            self._records[openid] = record
            return record

    def new_follower(self) -> FollowerRecord:
        """A person who never followed (yet has an openid, e.g. from a web page login)."""
        with self._lock:
            record = self._factory.stranger(set(self._records))
            self._records[record.openid] = record
            return record

    def follow(self, openid: str, scene: str | int | None = None, at: int = 0, *,
               subscribe_scene: str | None = None) -> FollowerRecord:
        """``openid`` follows at ``at``: from a QR code when ``scene`` is given.

        A string scene sets ``qr_scene_str``, an int ``qr_scene`` (as QR_STR_SCENE and
        QR_SCENE codes do); either makes ``subscribe_scene`` ADD_SCENE_QR_CODE. Without a
        scene, ``subscribe_scene`` defaults to ADD_SCENE_SEARCH.
        """
        if scene is None:
            qr = {"subscribe_scene": subscribe_scene or "ADD_SCENE_SEARCH",
                  "qr_scene": 0, "qr_scene_str": ""}
        elif isinstance(scene, int):
            qr = {"subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": scene, "qr_scene_str": ""}
        else:
            qr = {"subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": scene}
        return self._update(openid, subscribe=1, subscribe_time=at, last_interaction=at, **qr)

    def unfollow(self, openid: str) -> FollowerRecord:
        """``openid`` unfollows. Remark and tags are kept, as WeChat keeps them."""
        return self._update(openid, subscribe=0)

    def touch(self, openid: str, at: int) -> FollowerRecord:
        """Record an interaction (a push from this person) at ``at``."""
        return self._update(openid, last_interaction=at)

    def set_remark(self, openid: str, remark: str) -> FollowerRecord:
        return self._update(openid, remark=remark)

    def refuse_templates(self, openid: str, refused: bool = True) -> FollowerRecord:
        """``openid`` turns the account's template messages off (or on again): a switch
        WeChat gives followers since 2023; their template sends then answer 43101."""
        return self._update(openid, templates_refused=refused)

    # -- tags --------------------------------------------------------------------------

    def tags(self) -> list[dict]:
        """``tags/get`` items: id, name and the number of current followers carrying it."""
        with self._lock:
            counts = {tag_id: 0 for tag_id in self._tags}
            for record in self._records.values():
                for tag_id in record.tagid_list if record.subscribe else ():
                    counts[tag_id] = counts.get(tag_id, 0) + 1
            return [{"id": i, "name": n, "count": counts[i]} for i, n in self._tags.items()]

    def tag_name(self, tag_id: int) -> str:
        """Raises: ApiError(45159) for an unknown tag id."""
        with self._lock:
            if tag_id not in self._tags:
                raise ApiError(45159)
            return self._tags[tag_id]

    def _check_name(self, name: str, *, except_id: int | None = None) -> None:
        if not name or len(name.encode("utf-8")) > 30:
            raise ApiError(45158 if name else 45157)
        if any(n == name and i != except_id for i, n in self._tags.items()):
            raise ApiError(45157)

    def create_tag(self, name: str) -> int:
        """A new tag's id. Raises: ApiError 45157 (bad/duplicate), 45158, 45056."""
        with self._lock:
            self._check_name(name)
            if len(self._tags) - len(SYSTEM_TAGS) >= MAX_TAGS:
                raise ApiError(45056)
            tag_id, self._next_tag = self._next_tag, self._next_tag + 1
            self._tags[tag_id] = name
            return tag_id

    def rename_tag(self, tag_id: int, name: str) -> None:
        with self._lock:
            self._check_writable(tag_id)
            self._check_name(name, except_id=tag_id)
            self._tags[tag_id] = name

    def delete_tag(self, tag_id: int) -> None:
        """Delete a tag and take it off everyone who carries it."""
        with self._lock:
            self._check_writable(tag_id)
            del self._tags[tag_id]
            for openid, record in list(self._records.items()):
                if tag_id in record.tagid_list:
                    tags = tuple(t for t in record.tagid_list if t != tag_id)
                    self._records[openid] = replace(record, tagid_list=tags)

    def _check_writable(self, tag_id: int) -> None:
        if tag_id in (0, 1, 2):
            raise ApiError(45058)
        self.tag_name(tag_id)

    def tag(self, openids: Iterable[str], tag_id: int) -> None:
        """Put ``tag_id`` on every openid, all or nothing.

        Raises:
            ApiError: 45159 unknown tag, 40003 unknown openid, 45059 a user at 20 tags.
        """
        with self._lock:
            self.tag_name(tag_id)
            records = [self.lookup(o) for o in openids]
            if any(tag_id not in r.tagid_list and len(r.tagid_list) >= MAX_TAGS_PER_USER
                   for r in records):
                raise ApiError(45059)
            for r in records:
                if tag_id not in r.tagid_list:
                    self._records[r.openid] = replace(r, tagid_list=(*r.tagid_list, tag_id))

    def untag(self, openids: Iterable[str], tag_id: int) -> None:
        """Take ``tag_id`` off every openid. Raises: ApiError 45159, 40003."""
        with self._lock:
            self.tag_name(tag_id)
            records = [self.lookup(o) for o in openids]
            for r in records:
                tags = tuple(t for t in r.tagid_list if t != tag_id)
                self._records[r.openid] = replace(r, tagid_list=tags)
