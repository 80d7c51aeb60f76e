"""Custom menu verbs of :class:`~connector.wechat.gateway.WeChatGateway` (a mixin:
``self._call`` runs one wechatpy call with the shared token and translated errors).

The default menu (``menu/create``, ``menu/get``, ``menu/delete``) and the personalised
menus shown to the followers of a tag (``menu/addconditional``, ``menu/delconditional``,
``menu/trymatch``), as https://developers.weixin.qq.com/doc/service/api/custommenu/
documents them. Bodies are WeChat's own (``{"button": [...], "matchrule": {...}}``);
what goes into them is decided by :mod:`connector.menu`.
"""

from __future__ import annotations

from typing import Any

from connector.errors import FatalError


class MenuVerbs:
    """The custom menu API."""

    def get_menu(self) -> dict[str, Any] | None:
        """``menu/get``: ``{"menu": {...}, "conditionalmenu": [...]}``, or None when the
        account has no menu (WeChat's 46003, which wechatpy reads as None).

        Raises:
            RetriableError: network trouble, WeChat busy, a quota hit.
            FatalError: configuration problems and errors the bridge does not know.
        """
        data = self._call(lambda client: client.menu.get())
        if data is not None and not isinstance(data, dict):
            raise FatalError("WeChat's menu/get answer is not an object", system="wechat",
                             code="MALFORMED")
        return data

    def create_menu(self, body: dict[str, Any]) -> None:
        """``menu/create``: replace the default menu with ``body`` (``{"button": [...]}``).

        Raises:
            FatalError: WeChat refused the menu (40016..40027, 40054/40055: a rule the
                mapping's check should have caught), or the account may not set menus.
            RetriableError: as :meth:`get_menu`.
        """
        self._call(lambda client: client.menu.create(body))

    def delete_menu(self) -> None:
        """``menu/delete``: the default menu and every personalised menu.

        Raises:
            RetriableError, FatalError: as :meth:`get_menu`.
        """
        self._call(lambda client: client.menu.delete())

    def add_conditional_menu(self, body: dict[str, Any]) -> str:
        """``menu/addconditional``: a personalised menu (``body`` with its ``matchrule``);
        its menuid.

        Raises:
            FatalError: 65303 (no default menu yet), 65304 (empty matchrule), 65305 (too
                many personalised menus), 65316 (more than 3 link domains), 45159 (no
                such tag), the menu checks; or an answer without a menuid.
            RetriableError: as :meth:`get_menu`.
        """
        data = self._call(lambda client: client.menu.add_conditional(body))
        menuid = data.get("menuid") if isinstance(data, dict) else None
        if menuid in (None, ""):
            raise FatalError("WeChat's menu/addconditional answer has no menuid",
                             system="wechat", code="MALFORMED")
        return str(menuid)

    def delete_conditional_menu(self, menuid: str | int) -> None:
        """``menu/delconditional``.

        Raises:
            FatalError: 65301 (no personalised menu has this menuid).
            RetriableError: as :meth:`get_menu`.
        """
        self._call(lambda client: client.menu.del_conditional(str(menuid)))

    def try_match_menu(self, openid: str) -> dict[str, Any]:
        """``menu/trymatch``: the menu ``openid`` sees (``{"button": [...]}``).

        Raises:
            FatalError: 65302 (no such user), 46003 (no menu).
            RetriableError: as :meth:`get_menu`.
        """
        data = self._call(lambda client: client.menu.try_match(openid))
        if not isinstance(data, dict):
            raise FatalError("WeChat's menu/trymatch answer is not an object",
                             system="wechat", code="MALFORMED")
        return data
