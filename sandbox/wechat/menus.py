"""The account's custom menu: the default menu and the personalised (conditional) menus,
checked the way WeChat checks them.

Sources, beside each rule below:

- CREATE: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-
  Defined_Menu.html (now https://developers.weixin.qq.com/doc/service/api/custommenu/
  api_createcustommenu): 1-3 buttons, 1-5 sub-buttons, name at most 16 bytes (60 for a
  sub-button), key at most 128 bytes, url at most 1024 bytes, the types and the fields
  each needs, type and sub_button exclusive.
- CODES: WeChat's global return codes (https://developers.weixin.qq.com/doc/offiaccount/
  Getting_Started/Global_Return_Code.html, as copied at https://cnblogs.com/zno2/p/
  5689425.html and in wechatpy's constants.py ``WeChatErrorCode``) with the errmsg
  texts of the English code table (http://mamicode.com/info-detail-2408733.html): 40016
  invalid button size, 40017 invalid button type, 40018 invalid button name size, 40019
  invalid button key size, 40020 invalid button url size, 40022 invalid sub button level,
  40023 invalid sub button size, 40024 invalid sub button type, 40025/40026/40027 invalid
  sub button name/key/url size, 40054 invalid sub button url domain, 40055 invalid button
  url domain, 46003 menu no exist (wechatpy's ``menu.get`` reads 46003 as "no menu").
- CONDITIONAL: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/
  Personalized_menu_interface.html and .../custommenu/api_addconditionalmenu: a default
  menu first (65303 "there is no selfmenu, please create selfmenu first", as answered at
  https://developers.weixin.qq.com/community/develop/doc/000ac60cae0200a26f3a8e23e5b400),
  a non-empty matchrule (65304 "match rule empty", https://developers.weixin.qq.com/
  community/develop/doc/000c822f56834057de37859c25b000), no privacy fields since 2021
  (sex, country, province, city, language: 65320), at most 3 link domains over all the
  personalised menus (65316, wechatpy's DOMAIN_COUNT_REACH_LIMIT), menus matched newest
  first, the default menu when none matches; menu/delete removes the default and every
  personalised menu; ``addconditional`` answers ``{"menuid": "208379533"}``, ``menu/get``
  lists ``conditionalmenu`` with numeric ``menuid`` s and gives every button a
  ``sub_button`` list (empty on a leaf) (.../Custom_Menus/Querying_Custom_Menus.html).
  65301 (no personalised menu of that menuid), 65302 (no such user), 65305 (too many
  personalised menus) are the global codes page's; WeChat does not publish how many
  personalised menus an account may have: ``conditional_limit`` (default 100) is ours.
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any
from urllib.parse import urlsplit

from sandbox.wechat.errors import ApiError

KEY_TYPES = frozenset({"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                       "pic_photo_or_album", "pic_weixin", "location_select"})
NEEDS: dict[str, tuple[str, ...]] = {  # CREATE: the fields each type must carry
    **{t: ("key",) for t in KEY_TYPES},
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
PRIVATE_RULES = ("sex", "country", "province", "city", "language")  # CONDITIONAL: 65320
MAX_DOMAINS = 3  # CONDITIONAL: 65316
FIRST_MENUID = 208_396_938  # the size of the menuids in WeChat's samples


def _size(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else -1


def check_buttons(buttons: Any) -> None:
    """WeChat's checks of a menu's ``button`` list (CREATE, CODES), first failure first.

    Raises:
        ApiError: the errcode WeChat answers.
    """
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ApiError(40016)
    for button in buttons:
        if not isinstance(button, dict):
            raise ApiError(47001)
        if not 1 <= _size(button.get("name")) <= 16:
            raise ApiError(40018)
        subs = button.get("sub_button") or []
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise ApiError(40023)
            for sub in subs:
                if not isinstance(sub, dict):
                    raise ApiError(47001)
                if not 1 <= _size(sub.get("name")) <= 60:
                    raise ApiError(40025)
                if sub.get("sub_button"):
                    raise ApiError(40022)
                _check_action(sub, top=False)
        else:
            _check_action(button, top=True)


def _check_action(button: dict, *, top: bool) -> None:
    kind = button.get("type")
    if kind not in NEEDS:
        raise ApiError(40017 if top else 40024)
    needs = NEEDS[kind]
    if "key" in needs and not 1 <= _size(button.get("key")) <= 128:
        raise ApiError(40019 if top else 40026)
    if "url" in needs:
        url = button.get("url")
        if not 1 <= _size(url) <= 1024:
            raise ApiError(40020 if top else 40027)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(40055 if top else 40054)
    # appid/pagepath/media_id/article_id missing: the pages name no errcode of their own;
    # the generic "data format error".
    if any(not isinstance(button.get(f), str) or not button.get(f) for f in needs):
        raise ApiError(47001)


def _listed(buttons: list[dict]) -> list[dict]:
    """Buttons as ``menu/get`` shows them: every button with a ``sub_button`` list."""
    out = []
    for button in buttons:
        shown = {k: v for k, v in button.items() if k != "sub_button"}
        shown["sub_button"] = _listed(button.get("sub_button") or [])
        out.append(shown)
    return out


def _domains(buttons: list[dict]) -> set[str]:
    found = set()
    for button in buttons:
        if button.get("url"):
            found.add(urlsplit(button["url"]).hostname or "")
        found |= _domains(button.get("sub_button") or [])
    return found


class Menus:
    """The account's menus, thread-safe. ``tags_of(openid)`` gives a follower's tag ids
    (raising ApiError 40003 for an unknown one), ``tag_exists(id)`` checks a tag."""

    def __init__(self, *, tags_of, tag_exists, conditional_limit: int = 100) -> None:
        self._tags_of = tags_of
        self._tag_exists = tag_exists
        self.conditional_limit = conditional_limit
        self._lock = threading.Lock()
        self._default: list[dict] | None = None
        self._conditional: list[dict] = []  # oldest first: {"button", "matchrule", "menuid"}
        self._menuids = itertools.count(FIRST_MENUID)

    def create(self, body: Any) -> None:
        """``menu/create``: the default menu, replacing the one before (the personalised
        menus stay: CONDITIONAL only says menu/delete removes them).

        Raises:
            ApiError: 47001 not an object; the CREATE checks.
        """
        if not isinstance(body, dict):
            raise ApiError(47001)
        check_buttons(body.get("button"))
        with self._lock:
            self._default = copy.deepcopy(body["button"])

    def add_conditional(self, body: Any) -> str:
        """``menu/addconditional``: a personalised menu; its menuid (a string, as WeChat).

        Raises:
            ApiError: 65303 no default menu; 65304 empty matchrule; 65320 a privacy rule;
                45159 an unknown tag; 65316 a fourth link domain; 65305 too many menus;
                the CREATE checks.
        """
        if not isinstance(body, dict):
            raise ApiError(47001)
        rule = body.get("matchrule")
        if not isinstance(rule, dict) or not any(v not in (None, "") for v in rule.values()):
            raise ApiError(65304)
        if any(rule.get(name) not in (None, "") for name in PRIVATE_RULES):
            raise ApiError(65320)
        check_buttons(body.get("button"))
        tag = rule.get("tag_id")
        if tag not in (None, ""):
            # An unknown tag: WeChat names no errcode for it; the tags API's 45159.
            try:
                tag_id = int(tag)
            except (TypeError, ValueError):
                raise ApiError(45159) from None
            if not self._tag_exists(tag_id):
                raise ApiError(45159)
        with self._lock:
            if self._default is None:
                raise ApiError(65303)
            if len(self._conditional) >= self.conditional_limit:
                raise ApiError(65305)
            domains = _domains(body["button"]).union(
                *(_domains(m["button"]) for m in self._conditional))
            if len(domains) > MAX_DOMAINS:
                raise ApiError(65316)
            menuid = next(self._menuids)
            self._conditional.append({"button": copy.deepcopy(body["button"]),
                                      "matchrule": dict(rule), "menuid": menuid})
        return str(menuid)

    def delete_conditional(self, menuid: Any) -> None:
        """``menu/delconditional``. Raises: ApiError 65301 (no such menuid)."""
        with self._lock:
            for menu in self._conditional:
                if str(menu["menuid"]) == str(menuid):
                    self._conditional.remove(menu)
                    return
        raise ApiError(65301)

    def delete(self) -> None:
        """``menu/delete``: the default menu and every personalised menu."""
        with self._lock:
            self._default, self._conditional = None, []

    def get(self) -> dict:
        """``menu/get``. Raises: ApiError 46003 (no menu)."""
        with self._lock:
            if self._default is None:
                raise ApiError(46003)
            menu: dict = {"button": _listed(self._default)}
            if not self._conditional:
                return {"menu": menu}
            menu["menuid"] = FIRST_MENUID - 1
            return {"menu": menu, "conditionalmenu": [
                {"button": _listed(m["button"]), "matchrule": dict(m["matchrule"]),
                 "menuid": m["menuid"]} for m in self._conditional]}

    def selfmenu_info(self) -> dict:
        """``get_current_selfmenu_info``: the menu set through the API (the default one),
        sub-buttons under ``{"list": [...]}``; ``is_menu_open`` 0 without a menu."""
        with self._lock:
            if self._default is None:
                return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
            buttons = []
            for button in self._default:
                shown = {k: v for k, v in button.items() if k != "sub_button"}
                if button.get("sub_button"):
                    shown["sub_button"] = {"list": copy.deepcopy(button["sub_button"])}
                buttons.append(shown)
            return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}

    def menu_of(self, openid: str) -> list[dict]:
        """The buttons ``openid`` sees: the newest personalised menu whose tag they carry,
        else the default (CONDITIONAL).

        Raises:
            ApiError: 65302 unknown user; 46003 no menu at all.
        """
        try:
            tags = set(self._tags_of(openid))
        except ApiError:
            raise ApiError(65302) from None
        with self._lock:
            if self._default is None:
                raise ApiError(46003)
            for menu in reversed(self._conditional):
                tag = menu["matchrule"].get("tag_id")
                if tag not in (None, "") and int(tag) in tags:
                    return copy.deepcopy(menu["button"])
            return copy.deepcopy(self._default)

    def try_match(self, user_id: Any) -> dict:
        """``menu/trymatch``: ``{"button": [...]}`` as ``user_id`` sees it (an OpenID)."""
        if not isinstance(user_id, str) or not user_id:
            raise ApiError(65302)
        return {"button": _listed(self.menu_of(user_id))}

    def has(self, openid: str, kind: str, field: str, value: str) -> bool:
        """True when ``openid``'s menu has a button of ``kind`` whose ``field`` is
        ``value`` (what a person can click: WeChat pushes only what the menu holds)."""
        try:
            buttons = self.menu_of(openid)
        except ApiError:
            return False
        leaves = [s for b in buttons for s in (b.get("sub_button") or [b])]
        return any(b.get("type") == kind and b.get(field) == value for b in leaves)
