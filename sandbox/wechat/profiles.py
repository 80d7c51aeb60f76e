"""Realistic generated follower data, drawn from one seeded random generator.

Openids look like WeChat's (``o6_bmjrPTlm6_2sgVt7hMZOPfL2M``: 28 characters of
``[A-Za-z0-9_-]``, the first 6 shared by every follower of one app); unionids have the
same shape with their own (open-platform) prefix. Distributions are plausible, not
measured: mostly ``zh_CN``, most follows from QR codes and search, few remarks.
"""

from __future__ import annotations

import random
import string

from sandbox.wechat.record import FollowerRecord

ALPHABET = string.ascii_letters + string.digits + "_-"
ID_LENGTH = 28
EPOCH_START = 1_420_070_400  # 2015-01-01: generated follows happen after this
EPOCH_END = 1_717_200_000  # 2024-06-01: and before this (fixed, so output is seeded only)

LANGUAGES = (("zh_CN", 86), ("en", 7), ("zh_TW", 4), ("zh_HK", 3))
SCENES = (
    ("ADD_SCENE_QR_CODE", 35), ("ADD_SCENE_SEARCH", 25), ("ADD_SCENE_PROFILE_CARD", 10),
    ("ADD_SCENE_PROFILE_LINK", 8), ("ADD_SCENE_ACCOUNT_MIGRATION", 5),
    ("ADD_SCENE_PROFILE_ITEM", 5), ("ADD_SCENE_WECHAT_ADVERTISEMENT", 5),
    ("ADD_SCENE_REPRINT", 3), ("ADD_SCENE_LIVESTREAM", 2), ("ADD_SCENE_OTHERS", 2),
)
REMARKS = ("王伟", "李娜", "张敏 VIP", "Alice Chen", "展会-陈静", "刘洋 (上海)", "Kevin W.")
TAG_NAMES = ("VIP", "广州", "上海", "Newsletter", "展会 2024")


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    point = rng.random() * sum(w for _, w in table)
    for value, weight in table:
        point -= weight
        if point < 0:
            return value
    return table[-1][0]


def _chars(rng: random.Random, k: int) -> str:
    # ALPHABET has exactly 64 symbols: six random bits per character.
    bits = rng.getrandbits(6 * k)
    return "".join(ALPHABET[(bits >> (6 * i)) & 63] for i in range(k))


class ProfileFactory:
    """Makes ids and records for one account; not thread-safe (Population locks)."""

    def __init__(self, rng: random.Random, *, openid_prefix: str | None = None,
                 scenes: list[str] | None = None, unionid_fraction: float = 0.8) -> None:
        self.rng = rng
        self.openid_prefix = openid_prefix or self._prefix()
        if len(self.openid_prefix) != 6:
            raise ValueError("openid_prefix must be 6 characters")
        self.unionid_prefix = self._prefix()
        self.unionid_fraction = unionid_fraction
        self.scenes = list(scenes) if scenes is not None else [
            f"sfc_{self._campaign_id()}" for _ in range(4)]
        self._issued: set[str] = set()

    def _prefix(self) -> str:
        return "o" + _chars(self.rng, 5)

    def _campaign_id(self) -> str:
        """A 15-character Salesforce Campaign Id (key prefix 701)."""
        alnum = string.ascii_letters + string.digits
        pod = "".join(self.rng.choices(alnum, k=2))
        return f"701{pod}00000{''.join(self.rng.choices(alnum, k=5))}"

    def _id(self, prefix: str) -> str:
        while True:
            candidate = prefix + _chars(self.rng, ID_LENGTH - len(prefix))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    def account_tags(self) -> dict[int, str]:
        return {100 + i: name for i, name in enumerate(TAG_NAMES)}

    def follower(self, *, subscribed: bool, tag_ids: list[int]) -> FollowerRecord:
        """A generated person who followed at some point (and still does if ``subscribed``)."""
        rng = self.rng
        scene = _weighted(rng, SCENES)
        qr_scene, qr_scene_str = 0, ""
        if scene == "ADD_SCENE_QR_CODE":
            if self.scenes and rng.random() < 0.6:
                qr_scene_str = rng.choice(self.scenes)
            else:
                qr_scene = rng.randint(1, 100_000)
        tags: tuple[int, ...] = ()
        if tag_ids and rng.random() < 0.3:
            tags = tuple(sorted(rng.sample(tag_ids, k=rng.randint(1, min(2, len(tag_ids))))))
        at = rng.randint(EPOCH_START, EPOCH_END)
        return FollowerRecord(
            openid=self._id(self.openid_prefix),
            unionid=self._unionid(),
            subscribe=int(subscribed),
            subscribe_time=at,
            language=_weighted(rng, LANGUAGES),
            remark=rng.choice(REMARKS) if rng.random() < 0.1 else "",
            tagid_list=tags,
            subscribe_scene=scene,
            qr_scene=qr_scene,
            qr_scene_str=qr_scene_str,
        )

    def stranger(self, taken: set[str]) -> FollowerRecord:
        """Someone who never followed: an openid and (maybe) a unionid, nothing else."""
        self._issued.update(taken)
        return FollowerRecord(openid=self._id(self.openid_prefix), unionid=self._unionid(),
                              subscribe=0, subscribe_time=0,
                              language=_weighted(self.rng, LANGUAGES))

    def _unionid(self) -> str | None:
        return self._id(self.unionid_prefix) if self.rng.random() < self.unionid_fraction else None
