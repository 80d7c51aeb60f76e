"""Passive replies as WeChat XML, rendered by wechatpy's reply classes.

The callback returns this XML as its answer (encrypted in safe mode by
:meth:`connector.wechat.crypto.PushCipher.encrypt_reply`): the reply reaches the follower
without an API call. wechatpy puts values into CDATA sections as they are, so a value
holding ``]]>`` is split across two sections here (the text the follower sees is the
same); characters XML cannot carry were removed by the model already.
"""

from __future__ import annotations

from wechatpy.replies import ArticlesReply, TextReply

from connector.reply_model import Reply

__all__ = ["render_reply"]

_CDATA_END = "]]>"


def _cdata(value: str) -> str:
    # "a]]>b" → "a]]]]><![CDATA[>b": ends the section before ">" and opens a new one.
    return value.replace(_CDATA_END, "]]]]><![CDATA[>")


def render_reply(reply: Reply, *, openid: str, account: str, at: int) -> str:
    """The reply XML to ``openid`` from the account ``account`` (its original id),
    ``CreateTime`` ``at``."""
    if reply.text is not None:
        return TextReply(source=account, target=_cdata(openid), time=at,
                         content=_cdata(reply.text)).render()
    a = reply.article
    article = {"title": _cdata(a.title), "description": _cdata(a.description),
               "image": _cdata(a.picture_url), "url": _cdata(a.url)}
    return ArticlesReply(source=account, target=_cdata(openid), time=at,
                         articles=[article]).render()
