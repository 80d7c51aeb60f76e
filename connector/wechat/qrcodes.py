"""WeChat QR code verbs of :class:`~connector.wechat.gateway.WeChatGateway` (a mixin:
``self._call`` runs one wechatpy call with the shared token and translated errors)."""

from __future__ import annotations


class QrCodeVerbs:
    """``qrcode/create`` and the code's image."""
