"""What publishing a menu takes, decided without I/O.

WeChat's ``menu/get`` gives every button a ``sub_button`` list (empty on a leaf) and a
personalised menu's ``matchrule`` with its other rules blank; :func:`normalise` drops
both, so a menu WeChat holds compares equal to the one the file declares.

The file is the account's whole menu: its default menu, and its conditional menus in
priority order (a follower carrying two of the tags sees the first listed). WeChat
matches personalised menus newest first, so they are made in reverse order, and since it
has no call to edit or reorder one, any difference in them is published by deleting
WeChat's personalised menus and adding the file's again. A menu equal to WeChat's makes
no call.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

Buttons = list[dict[str, Any]]


def normalise(buttons: Buttons) -> Buttons:
    """Buttons without empty ``sub_button`` lists and blank values (see module doc)."""
    out = []
    for button in buttons:
        kept = {k: v for k, v in button.items()
                if k != "sub_button" and v not in (None, "")}
        subs = button.get("sub_button") or []
        if subs:
            kept["sub_button"] = normalise(subs)
        out.append(kept)
    return out


def _rule(matchrule: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (matchrule or {}).items() if v not in (None, "")}


@dataclass(frozen=True)
class Conditional:
    """A personalised menu: its tag (id and, when known, name), buttons, menuid."""

    tag_id: int | None
    buttons: Buttons
    tag: str | None = None
    menuid: str | None = None
    matchrule: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Menus:
    """A whole menu: the default buttons (None: no menu) and the conditional menus in
    priority order (the one a follower of several tags sees first)."""

    default: Buttons | None
    conditional: tuple[Conditional, ...] = ()

    def document(self) -> dict[str, Any]:
        """A comparable, printable form: tags by name (id when no name is known)."""
        return {"default": normalise(self.default) if self.default is not None else None,
                "conditional": [
                    {"tag": c.tag if c.tag is not None else c.tag_id,
                     **({"matchrule": c.matchrule} if set(c.matchrule) - {"tag_id"} else {}),
                     "button": normalise(c.buttons)} for c in self.conditional]}


def from_wechat(answer: dict[str, Any] | None, tag_names: dict[int, str]) -> Menus:
    """WeChat's ``menu/get`` answer (None: no menu) as :class:`Menus`: personalised menus
    newest first (WeChat matches them so), by menuid."""
    if not answer:
        return Menus(default=None)
    made = sorted(answer.get("conditionalmenu") or [], key=lambda m: int(m.get("menuid", 0)))
    conditional = []
    for menu in reversed(made):
        rule = _rule(menu.get("matchrule"))
        tag_id = int(rule["tag_id"]) if rule.get("tag_id", "").isdigit() else None
        conditional.append(Conditional(
            tag_id=tag_id, buttons=menu.get("button") or [],
            tag=tag_names.get(tag_id) if tag_id is not None else None,
            menuid=str(menu.get("menuid")), matchrule=rule))
    return Menus(default=(answer.get("menu") or {}).get("button") or [],
                 conditional=tuple(conditional))


@dataclass(frozen=True)
class MenuPlan:
    """The calls that make WeChat's menu the file's: ``create`` (``menu/create`` body or
    None), ``delete`` (menuids to ``menu/delconditional``), ``add`` (``menu/addconditional``
    bodies, in the order to make them, with their tag names)."""

    create: dict[str, Any] | None = None
    delete: tuple[str, ...] = ()
    add: tuple[tuple[str | None, dict[str, Any]], ...] = ()

    @property
    def changes(self) -> bool:
        return self.create is not None or bool(self.delete) or bool(self.add)


def plan_default(wanted: Menus, current: Menus) -> dict[str, Any] | None:
    """The ``menu/create`` body when WeChat's default menu differs from the file's."""
    assert wanted.default is not None
    if current.default is not None and normalise(current.default) == normalise(
            wanted.default):
        return None
    return {"button": wanted.default}


def plan_conditional(wanted: Menus, current: Menus
                     ) -> tuple[tuple[str, ...], tuple[tuple[str | None, dict], ...]]:
    """(menuids to delete, bodies to add) making WeChat's personalised menus the file's;
    nothing when they are equal already (same tags, buttons and priority)."""
    def key(menus: Menus) -> list:
        return [(_rule(c.matchrule) if c.matchrule else {"tag_id": str(c.tag_id)},
                 normalise(c.buttons)) for c in menus.conditional]

    if key(wanted) == key(current):
        return (), ()
    delete = tuple(str(c.menuid) for c in current.conditional)
    add = tuple((c.tag, {"button": c.buttons, "matchrule": {"tag_id": str(c.tag_id)}})
                for c in reversed(wanted.conditional))  # the first listed made last
    return delete, add


def plan_menu(wanted: Menus, current: Menus) -> MenuPlan:
    """Every call making WeChat's menu (``current``) the file's (``wanted``)."""
    delete, add = plan_conditional(wanted, current)
    return MenuPlan(create=plan_default(wanted, current), delete=delete, add=add)


def diff_lines(wanted: Menus, current: Menus) -> list[str]:
    """A unified diff from WeChat's menu to the file's (empty when they are equal)."""
    def text(menus: Menus) -> list[str]:
        return json.dumps(menus.document(), indent=2, ensure_ascii=False).splitlines()

    return list(difflib.unified_diff(text(current), text(wanted), "WeChat", "mapping file",
                                     lineterm=""))
