"""A WeChat follower's profile, as the bridge uses it (independent of wechatpy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Follower:
    """What WeChat's ``user/info`` tells about one follower.

    Since December 2021 WeChat no longer returns nickname, sex, city or avatar, so they
    are absent here on purpose. ``subscribed`` False means the user has unfollowed (or
    never followed) and the other fields are empty.
    """

    openid: str
    subscribed: bool
    unionid: str | None = None
    subscribe_time: int | None = None
    language: str | None = None
    remark: str = ""
    tag_ids: tuple[int, ...] = ()
    subscribe_scene: str | None = None
    qr_scene: int | None = None
    qr_scene_str: str | None = None
    tag_names: tuple[str, ...] = field(default=())

    @classmethod
    def from_api(cls, data: dict[str, Any], tag_names: dict[int, str] | None = None) -> Follower:
        """Build from one ``user/info`` (or ``batchget`` item) response body."""
        tags = tuple(int(t) for t in data.get("tagid_list") or ())
        names = tag_names or {}
        return cls(
            openid=data["openid"],
            subscribed=bool(data.get("subscribe")),
            unionid=(data.get("unionid") or "").strip() or None,
            subscribe_time=data.get("subscribe_time") or None,
            language=data.get("language") or None,
            remark=data.get("remark") or "",
            tag_ids=tags,
            subscribe_scene=data.get("subscribe_scene") or None,
            qr_scene=data.get("qr_scene") or None,
            qr_scene_str=data.get("qr_scene_str") or None,
            tag_names=tuple(names[t] for t in tags if t in names),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Follower:
        data = dict(data)
        data["tag_ids"] = tuple(data.get("tag_ids") or ())
        data["tag_names"] = tuple(data.get("tag_names") or ())
        return cls(**data)
