"""A local WeChat Official Account: the API emulator and the push sender.

- :class:`Population` — generated followers and tags, deterministic from a seed.
- :class:`WeChatSandbox` — the ``api.weixin.qq.com/cgi-bin`` subset the bridge uses
  (``.app`` to serve, ``.faults``, ``.api_calls``, ``.sent_messages``), and the helpers
  that make people act (``scan``, ``follow``, ``text``…), each returning a :class:`Push`.
- :class:`CallbackSender` — signs, encrypts and POSTs a :class:`Push` to the bridge's
  callback like WeChat's servers (5 s wait, 3 resends), returning a :class:`Delivery`.

Typical use::

    ws = WeChatSandbox(app_id=..., app_secret=..., population=Population.generate(1000))
    sender = CallbackSender(bridge_url, token=..., app_id=ws.app_id,
                            original_id=ws.original_id, encoding_aes_key=...)
    delivery = sender.deliver(ws.scan(openid, "sfc_7015g00000AbCdE"))
"""

from sandbox.wechat.app import WeChatSandbox
from sandbox.wechat.outbox import QRCode, SentMessage
from sandbox.wechat.population import Population
from sandbox.wechat.pushes import Push
from sandbox.wechat.record import FollowerRecord
from sandbox.wechat.sender import CallbackSender, Delivery, PreparedPush

__all__ = [
    "CallbackSender",
    "Delivery",
    "FollowerRecord",
    "Population",
    "PreparedPush",
    "Push",
    "QRCode",
    "SentMessage",
    "WeChatSandbox",
]
