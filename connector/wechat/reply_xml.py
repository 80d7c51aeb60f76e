"""Passive replies as WeChat XML, rendered by wechatpy's reply classes.

The callback returns this XML as its answer (encrypted in safe mode by
:meth:`connector.wechat.crypto.PushCipher.encrypt_reply`): the reply reaches the follower
without an API call. wechatpy puts values into CDATA sections as they are, so a value
holding ``]]>`` is split across two sections here (the text the follower sees is the
same); characters XML cannot carry are the caller's to remove.
"""

from __future__ import annotations

from wechatpy.replies import ArticlesReply, TextReply

__all__ = ["render_article_reply", "render_text_reply"]

_CDATA_END = "]]>"


def _cdata(value: str) -> str:
    # "a]]>b" → "a]]]]><![CDATA[>b": ends the section before ">" and opens a new one.
    return value.replace(_CDATA_END, "]]]]><![CDATA[>")


def render_text_reply(text: str, *, openid: str, account: str, at: int) -> str:
    """A text reply to ``openid`` from the account ``account`` (its original id),
    ``CreateTime`` ``at``."""
    return TextReply(source=account, target=_cdata(openid), time=at,
                     content=_cdata(text)).render()


def render_article_reply(*, title: str, description: str, picture_url: str, url: str,
                         openid: str, account: str, at: int) -> str:
    """A one-article reply (title, description, picture and link) to ``openid`` from
    ``account``, ``CreateTime`` ``at``."""
    article = {"title": _cdata(title), "description": _cdata(description),
               "image": _cdata(picture_url), "url": _cdata(url)}
    return ArticlesReply(source=account, target=_cdata(openid), time=at,
                         articles=[article]).render()
