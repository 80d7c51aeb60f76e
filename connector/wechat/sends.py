"""Messages to followers (a mixin of :class:`~connector.wechat.gateway.WeChatGateway`;
``self._call`` runs one wechatpy call with the shared token and translated errors).

Whether a message may be sent at all (WeChat's windows and quotas) is decided before,
by the caller; these verbs only send and report WeChat's answer as the bridge's errors.
"""

from __future__ import annotations

from typing import Any


class MessageVerbs:
    """``message/custom/send``, ``message/template/send`` and the mass sends."""

    def send_custom(self, openid: str, message: dict[str, Any]) -> None:
        """A customer-service message: ``message`` is the body without ``touser``, e.g.
        ``{"msgtype": "text", "text": {"content": "..."}}`` or ``{"msgtype": "news",
        "news": {"articles": [...]}}``.

        Raises:
            SkippableError: the follower unfollowed or is out of the 48 h window (45015).
            RetriableError, FatalError: as the gateway's other verbs.
        """
        body = {"touser": openid, **message}
        self._call(lambda client: client.post("message/custom/send", data=body))
