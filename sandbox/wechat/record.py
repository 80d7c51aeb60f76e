"""One person's relation to the Official Account, as WeChat stores it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FollowerRecord:
    """Everything WeChat knows about one person's relation to the account.

    ``subscribe`` is 0 for former followers and for people who never followed (then
    ``subscribe_time`` is 0). ``last_interaction`` is the time of their last push to the
    account (follow, scan, message, click); WeChat allows customer-service messages for
    48 hours after it. ``templates_refused``: they turned the account's template
    messages off.
    """

    openid: str
    unionid: str | None
    subscribe: int
    subscribe_time: int
    language: str
    remark: str = ""
    tagid_list: tuple[int, ...] = ()
    subscribe_scene: str = ""
    qr_scene: int = 0
    qr_scene_str: str = ""
    groupid: int = 0
    last_interaction: int | None = None
    # The follower turned off the account's template messages (WeChat's chat settings,
    # since 2023): template/send to them answers 43101 (see routes_messages.py).
    templates_refused: bool = False

    def user_info(self) -> dict:
        """This follower as ``user/info`` returns it (post-December-2021 shape)."""
        if not self.subscribe:
            data: dict = {"subscribe": 0, "openid": self.openid}
            if self.unionid:
                data["unionid"] = self.unionid
            return data
        data = {
            "subscribe": 1,
            "openid": self.openid,
            "language": self.language,
            "subscribe_time": self.subscribe_time,
        }
        if self.unionid:
            data["unionid"] = self.unionid
        data.update(
            remark=self.remark,
            groupid=self.groupid,
            tagid_list=list(self.tagid_list),
            subscribe_scene=self.subscribe_scene,
            qr_scene=self.qr_scene,
            qr_scene_str=self.qr_scene_str,
        )
        return data
