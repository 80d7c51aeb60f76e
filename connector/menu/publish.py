"""Publishing the mapping's ``menu:`` section to an account, and reading it back.

:func:`publish_menu` reads WeChat's menu (``menu/get``), resolves the conditional menus'
tag names to ids (``tags/get``), plans (:mod:`.plan`) and makes only the calls needed: a
menu equal to WeChat's costs two reads and no write, so publishing twice leaves one menu
and the second run changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector.errors import ConfigurationError
from connector.menu.plan import Conditional, MenuPlan, Menus, diff_lines, from_wechat, plan_menu

if TYPE_CHECKING:  # the gateway loads wechatpy: only its type is needed here
    from connector.wechat.gateway import WeChatGateway
    from mappings.menu_section import MenuSection

log = logging.getLogger(__name__)


@dataclass
class Published:
    """What a publish did (or, dry, would do): the plan, and the menuids it made."""

    plan: MenuPlan
    dry_run: bool = False
    made: list[tuple[str | None, str]] = field(default_factory=list)  # (tag, menuid)

    def lines(self) -> list[str]:
        """What happened, one line per call, for the CLI."""
        if not self.plan.changes:
            return ["WeChat's menu is the mapping file's already: nothing published"]
        verb = "would " if self.dry_run else ""
        out = []
        if self.plan.create is not None:
            out.append(f"{verb}create the default menu "
                       f"({len(self.plan.create['button'])} buttons)")
        out += [f"{verb}delete the conditional menu {menuid}" for menuid in self.plan.delete]
        made = dict(self.made)
        out += [f"{verb}add the conditional menu for tag {tag!r}"
                + (f": menuid {made[tag]}" if tag in made else "")
                for tag, _ in self.plan.add]
        return out


def tag_ids(gateway: WeChatGateway, section: MenuSection) -> dict[str, int]:
    """The ids of the tags the conditional menus name, read fresh from WeChat.

    Raises:
        ConfigurationError: a tag the account does not have, named with the fix.
        RetriableError, FatalError: reading the tags failed.
    """
    if not section.conditional:
        return {}
    by_name = {name: tag_id for tag_id, name in gateway.tag_names(refresh=True).items()}
    missing = [t for t in section.tags() if t not in by_name]
    if missing:
        raise ConfigurationError(
            f"menu: conditional names the tag(s) {', '.join(map(repr, missing))}, which the "
            "WeChat account does not have — sync the Salesforce segment as a tag first "
            "(way_back tags), or correct the name (tags are matched exactly)",
            code="MENU_TAG")
    return {name: by_name[name] for name in section.tags()}


def wanted_menus(section: MenuSection, ids: dict[str, int]) -> Menus:
    """The file's menu, with each conditional menu's tag id."""
    return Menus(default=section.default_body()["button"], conditional=tuple(
        Conditional(tag_id=ids[menu.tag], tag=menu.tag,
                    buttons=section.conditional_body(i, ids[menu.tag])["button"])
        for i, menu in enumerate(section.conditional)))


def current_menus(gateway: WeChatGateway) -> Menus:
    """WeChat's menu now, its personalised menus' tags named (``tags/get`` only when
    there are some)."""
    answer = gateway.get_menu()
    names = gateway.tag_names() if answer and answer.get("conditionalmenu") else {}
    return from_wechat(answer, names)


def publish_menu(gateway: WeChatGateway, section: MenuSection, *,
                 dry_run: bool = False) -> Published:
    """Make WeChat's menu the file's, with only the calls that differ.

    After a new default menu, WeChat's menu is read again before the personalised menus
    are planned: what ``menu/create`` does to them is WeChat's to decide.

    Raises:
        ConfigurationError: a conditional menu's tag is not in WeChat.
        FatalError: WeChat refused a menu (the errcode names the rule).
        RetriableError: network trouble, WeChat busy; publishing again resumes.
    """
    wanted = wanted_menus(section, tag_ids(gateway, section))
    current = current_menus(gateway)
    plan = plan_menu(wanted, current)
    result = Published(plan=plan, dry_run=dry_run)
    if dry_run or not plan.changes:
        return result
    if plan.create is not None:
        gateway.create_menu(plan.create)
        log.info("published the default menu")
        if wanted.conditional or current.conditional:
            plan = plan_menu(wanted, current_menus(gateway))
            plan = MenuPlan(create=result.plan.create, delete=plan.delete, add=plan.add)
            result.plan = plan
    for menuid in plan.delete:
        gateway.delete_conditional_menu(menuid)
    for tag, body in plan.add:
        result.made.append((tag, gateway.add_conditional_menu(body)))
        log.info("published the conditional menu of tag %r", tag)
    return result


def menu_diff(gateway: WeChatGateway, section: MenuSection) -> list[str]:
    """A unified diff from WeChat's menu to the file's; empty when they are equal.

    Raises:
        ConfigurationError, RetriableError, FatalError: as :func:`publish_menu`.
    """
    return diff_lines(wanted_menus(section, tag_ids(gateway, section)),
                      current_menus(gateway))
