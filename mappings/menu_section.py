"""The ``menu:`` section of the mapping file: the account's custom menu, as configuration.

Once the account's server URL points at the bridge, WeChat's console no longer edits the
menu: only the API does (``connector menu publish``). The file declares the default menu
(``buttons``) and conditional menus for tags (``conditional``: WeChat's personalised
menus, each shown to the followers carrying a tag, named here by its name and resolved
to its id when the menu is published). Pure: no I/O.

The models take the structure (types, unknown keys); :func:`menu_problems` checks
WeChat's rules, each message naming the rule and the errcode WeChat would answer, so the
loader reports them on their lines before anything is sent. The rules, from
https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
(now https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu)
and the personalised menu page (.../Custom_Menus/Personalized_menu_interface.html,
.../custommenu/api_addconditionalmenu):

- 1 to 3 top-level buttons (40016), 1 to 5 sub-buttons under one (40023); no deeper
  level (40022);
- a top-level name at most 16 bytes (40018), a sub-button's at most 60 (40025), UTF-8:
  a Chinese character is 3 bytes ("不超过16个字节，子菜单不超过60个字节");
- a button with ``sub_button`` has no type ("与 sub_button 互斥"); every other button has
  one of :data:`BUTTON_TYPES` (40017 / 40024);
- ``key`` (click and the other event types): at most 128 bytes (40019 / 40026);
  ``url`` (view, miniprogram): at most 1024 bytes (40020 / 40027), a web link
  (40054/40055 for a bad domain); ``appid`` and ``pagepath`` for miniprogram;
  ``media_id`` for media_id; ``article_id`` for article_id and article_view_limited.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mappings.rules import Strict

# The types the current createCustomMenu page lists (its "枚举"), plus miniprogram, which
# its url/appid/pagepath fields describe. view_limited (a retired media article) is left
# out: its articles are published ones now, reached by article_view_limited.
KEY_TYPES = ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
             "pic_photo_or_album", "pic_weixin", "location_select")
BUTTON_TYPES = (*KEY_TYPES, "view", "miniprogram", "media_id", "article_id",
                "article_view_limited")
ButtonType = Literal["click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                     "pic_photo_or_album", "pic_weixin", "location_select", "view",
                     "miniprogram", "media_id", "article_id", "article_view_limited"]
ACTION_FIELDS = ("key", "url", "media_id", "article_id", "appid", "pagepath")
# What each type needs (and so may carry); anything else on the button is refused.
REQUIRED: dict[str, tuple[str, ...]] = {
    **{t: ("key",) for t in KEY_TYPES},
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),  # url: what old clients open instead
    "media_id": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}

MAX_BUTTONS = 3  # 40016
MAX_SUB_BUTTONS = 5  # 40023
TOP_NAME_BYTES = 16  # 40018
SUB_NAME_BYTES = 60  # 40025
KEY_BYTES = 128  # 40019 / 40026
URL_BYTES = 1024  # 40020 / 40027

Path = tuple[str | int, ...]
Problem = tuple[Path, str]


class MenuButton(Strict):
    """One button: ``name`` and either ``sub_button`` (a top-level button opening up to
    5 buttons) or a ``type`` with what that type needs (see :data:`REQUIRED`)."""

    name: str
    type: ButtonType | None = None
    key: str | None = None
    url: str | None = None
    media_id: str | None = None
    article_id: str | None = None
    appid: str | None = None
    pagepath: str | None = None
    sub_button: list[MenuButton] | None = None

    def body(self) -> dict[str, Any]:
        """The button as WeChat's API takes it (and ``menu/get`` gives it back)."""
        out: dict[str, Any] = {"name": self.name}
        if self.sub_button is not None:
            out["sub_button"] = [b.body() for b in self.sub_button]
            return out
        out["type"] = self.type
        out.update({f: getattr(self, f) for f in ACTION_FIELDS if getattr(self, f) is not None})
        return out


class ConditionalMenu(Strict):
    """A menu for the followers carrying ``tag`` (the tag's name, as the way back syncs a
    Salesforce segment into WeChat, e.g. ``VIP``)."""

    tag: str = Field(min_length=1)
    buttons: list[MenuButton]


class MenuSection(Strict):
    """``menu:``: ``buttons`` (the default menu) and ``conditional`` (a menu per tag; a
    follower with several of the tags sees the first listed)."""

    buttons: list[MenuButton]
    conditional: list[ConditionalMenu] = Field(default_factory=list)

    def default_body(self) -> dict[str, Any]:
        """The ``menu/create`` body."""
        return {"button": [b.body() for b in self.buttons]}

    def conditional_body(self, index: int, tag_id: int) -> dict[str, Any]:
        """The ``menu/addconditional`` body of ``conditional[index]`` for tag ``tag_id``."""
        menu = self.conditional[index]
        return {"button": [b.body() for b in menu.buttons],
                "matchrule": {"tag_id": str(tag_id)}}

    def tags(self) -> list[str]:
        """The tag names the conditional menus name, in the file's order."""
        return [m.tag for m in self.conditional]

    def problems(self) -> list[Problem]:
        """Every break of WeChat's rules, as (key path under ``menu``, message)."""
        found = [(("menu", *path), text) for path, text in menu_problems(self.buttons)]
        seen: dict[str, int] = {}
        for i, menu in enumerate(self.conditional):
            where = ("menu", "conditional", i)
            if menu.tag in seen:
                found.append(((*where, "tag"), f"tag {menu.tag!r} has a menu already "
                              f"(conditional {seen[menu.tag]}) — give each tag one menu"))
            seen.setdefault(menu.tag, i)
            found += [((*where, *path), text) for path, text in menu_problems(menu.buttons)]
        return [(path, f"{'.'.join(map(str, path))}: {text}") for path, text in found]


def _bytes(value: str) -> int:
    return len(value.encode("utf-8"))


def menu_problems(buttons: list[MenuButton]) -> list[Problem]:
    """WeChat's rules for one menu's ``buttons``, as (key path from ``buttons``, message).

    The paths point at what is wrong: the 4th button itself, a name, a key.
    """
    found: list[Problem] = []
    if not buttons:
        found.append((("buttons",), "a menu has 1 to 3 buttons (WeChat's 40016 invalid "
                      "button size) — add a button, or remove the menu"))
    for i, button in enumerate(buttons):
        path: Path = ("buttons", i)
        if i == MAX_BUTTONS:
            found.append((path, f"a menu has at most {MAX_BUTTONS} top-level buttons "
                          f"(WeChat's 40016 invalid button size); this is button "
                          f"{i + 1} — remove it, or move it under a button's sub_button"))
        found += _button_problems(button, path, top=True)
    return found


def _button_problems(button: MenuButton, path: Path, *, top: bool) -> list[Problem]:
    found: list[Problem] = []
    limit, code = (TOP_NAME_BYTES, 40018) if top else (SUB_NAME_BYTES, 40025)
    level = "a top-level button's" if top else "a sub-button's"
    size = _bytes(button.name)
    if not button.name.strip():
        found.append(((*path, "name"), "the button's name is blank — write the text the "
                      "follower sees"))
    elif size > limit:
        found.append(((*path, "name"), f"{button.name!r} is {size} bytes; {level} name "
                      f"takes at most {limit} bytes of UTF-8 (WeChat's {code}; a Chinese "
                      f"character is 3 bytes: {limit // 3} of them) — shorten it"))
    if button.sub_button is not None:
        return found + _parent_problems(button, path, top=top)
    if button.type is None:
        return found + [(path, "the button has neither a type nor sub_button (WeChat's "
                         f"{40017 if top else 40024} invalid button type) — give it a type "
                         f"({', '.join(BUTTON_TYPES)}) or sub_button")]
    return found + _action_problems(button, path, top=top)


def _parent_problems(button: MenuButton, path: Path, *, top: bool) -> list[Problem]:
    subs = button.sub_button or []
    if not top:
        return [((*path, "sub_button"), "a sub-button cannot open buttons of its own (WeChat "
                 "has two levels: 40022 invalid sub button level) — move them up")]
    found: list[Problem] = []
    given = [f for f in ("type", *ACTION_FIELDS) if getattr(button, f) is not None]
    if given:
        found.append(((*path, given[0]), f"a button with sub_button opens them and does "
                      f"nothing itself: remove {', '.join(given)} (WeChat: type and "
                      "sub_button exclude each other)"))
    if not subs:
        found.append(((*path, "sub_button"), "sub_button is empty: a button opens 1 to 5 "
                      "buttons (WeChat's 40023 invalid sub button size) — add buttons, or "
                      "give this button a type instead"))
    for j, sub in enumerate(subs):
        where = (*path, "sub_button", j)
        if j == MAX_SUB_BUTTONS:
            found.append((where, f"a button opens at most {MAX_SUB_BUTTONS} sub-buttons "
                          f"(WeChat's 40023 invalid sub button size); this is sub-button "
                          f"{j + 1} — remove it or move it under another button"))
        found += _button_problems(sub, where, top=False)
    return found


def _action_problems(button: MenuButton, path: Path, *, top: bool) -> list[Problem]:
    found: list[Problem] = []
    needed = REQUIRED[str(button.type)]
    for name in needed:
        if getattr(button, name) is None:
            found.append(((*path, "type"), f"a button of type {button.type} needs {name} — "
                          f"add {name}: under it"))
    extra = [f for f in ACTION_FIELDS if f not in needed and getattr(button, f) is not None]
    for name in extra:
        found.append(((*path, name), f"{name} does not apply to type {button.type} "
                      f"(it takes {', '.join(needed)}) — remove it"))
    if button.key is not None and "key" in needed:
        size = _bytes(button.key)
        if not button.key or size > KEY_BYTES:
            found.append(((*path, "key"), f"the key is {size} bytes; WeChat takes 1 to "
                          f"{KEY_BYTES} ({40019 if top else 40026} invalid button key "
                          "size) — shorten it"))
    if button.url is not None and "url" in needed:
        size = _bytes(button.url)
        if size > URL_BYTES:
            found.append(((*path, "url"), f"the url is {size} bytes; WeChat takes at most "
                          f"{URL_BYTES} ({40020 if top else 40027} invalid button url size) "
                          "— shorten it"))
        elif not button.url.startswith(("https://", "http://")) or size <= len("https://"):
            found.append(((*path, "url"), f"{button.url!r} is not a web link (WeChat's "
                          f"{40055 if top else 40054} invalid button url domain) — write "
                          "it in full, starting with https://"))
    for name in ("appid", "pagepath", "media_id", "article_id"):
        value = getattr(button, name)
        if name in needed and value is not None and not value.strip():
            found.append(((*path, name), f"{name} is blank — fill it in"))
    return found
