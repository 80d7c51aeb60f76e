"""Writes to followers: remark and tags (a mixin of
:class:`~connector.wechat.gateway.WeChatGateway`; ``self._call`` runs one wechatpy call
with the shared token and translated errors)."""

from __future__ import annotations


class FollowerWriteVerbs:
    """``user/info/updateremark``, ``tags/*`` and ``tags/members/batch(un)tagging``."""
