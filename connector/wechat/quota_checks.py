"""Asking WeChat for an API's daily quota: a verb of
:class:`~connector.wechat.gateway.WeChatGateway` (a mixin: ``self._call`` runs one wechatpy
call with the shared token and translated errors).

``POST /cgi-bin/openapi/quota/get`` with ``{"cgi_path": "/cgi-bin/message/custom/send"}``
answers ``{"errcode": 0, "errmsg": "ok", "quota": {"daily_limit": N, "used": N, "remain":
N}}`` (76021: no such cgi_path; 76022: not this account's API), as
https://developers.weixin.qq.com/doc/offiaccount/openApi/get_api_quota.html documents it.
Each answer is kept in Redis for the console (:mod:`connector.wechat_quotas`). The API has
a daily quota of its own: this is an operator's act (``connector quotas --refresh``),
never a job's.
"""

from __future__ import annotations

from typing import Any

from connector.errors import FatalError
from connector.wechat_quotas import store_checked


class QuotaVerbs:
    """``openapi/quota/get``."""

    def api_quota(self, path: str) -> dict[str, int]:
        """WeChat's ``daily_limit``, ``used`` and ``remain`` for ``path``
        (``/cgi-bin/user/info``) today, also kept for the console; spends one call of
        ``openapi/quota/get``'s own quota.

        Raises:
            FatalError: WeChat does not know the path (76021) or it is not this
                account's (76022), or an answer without its quota.
            RetriableError: network trouble, WeChat busy, a quota hit (45009: the
                day's quota/get calls are spent).
        """
        data = self._call(lambda client: client.post(
            "openapi/quota/get", data={"cgi_path": path}), repeatable=True)
        quota: Any = data.get("quota") if isinstance(data, dict) else None
        if not isinstance(quota, dict) or not all(
                isinstance(quota.get(k), int) for k in ("daily_limit", "used", "remain")):
            raise FatalError("WeChat's openapi/quota/get answer has no quota",
                             system="wechat", code="MALFORMED")
        figures = {k: int(quota[k]) for k in ("daily_limit", "used", "remain")}
        store_checked(self._redis, self._app_id, path, figures, self._clock())
        return figures
