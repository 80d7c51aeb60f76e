"""``connector menu``: the account's custom menu, from the mapping file's ``menu:``.

    connector menu publish [--account gh_...] [--dry-run]   make WeChat's menu the file's
    connector menu show [--account gh_...]                  WeChat's menu, and whether it
                                                            is the file's
    connector menu diff [--account gh_...]                  WeChat's menu → the file's
    connector menu trymatch OPENID [--account gh_...]       the menu one follower sees

Exit 0 when done (``diff``: when the menus are equal), 1 when they differ (``diff``) or
WeChat refused a call (the message says why), 2 for configuration problems (from
``connector.cli.main``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from connector.errors import BridgeError, ConfigurationError

if TYPE_CHECKING:  # the gateway loads wechatpy: imported when a command runs
    from connector.wechat.gateway import WeChatGateway
    from mappings.menu_section import MenuSection


def _account(args: argparse.Namespace) -> tuple[WeChatGateway, MenuSection | None, str]:
    """The account's gateway, its mapping's ``menu:`` (None when the file has none) and
    the file's path.

    Raises:
        ConfigurationError: settings or mapping invalid, or an account not configured.
    """
    from connector.redis_connection import connect
    from connector.settings import get_settings
    from connector.wechat.account_gateways import UnknownAccount, WeChatAccounts
    from mappings.loader import load_mapping

    settings = get_settings()
    mapping = load_mapping(settings.MAPPING_FILE)
    accounts = WeChatAccounts.from_settings(settings, connect(settings.redis_url))
    try:
        gateway = accounts.for_account(args.account)
    except UnknownAccount as exc:
        raise ConfigurationError(str(exc), code="ACCOUNT") from None
    original_id = args.account or settings.wechat_accounts()[0].original_id
    return gateway, mapping.for_account(original_id).menu, str(settings.MAPPING_FILE)


def _needs_menu(section: MenuSection | None, path: str) -> MenuSection:
    if section is None:
        raise ConfigurationError(f"{path} has no menu: section for this account — declare "
                                 "the menu there first (README: The custom menu)",
                                 code="MENU")
    return section


def cmd_publish(args: argparse.Namespace) -> int:
    from connector.menu.publish import publish_menu

    gateway, section, path = _account(args)
    section = _needs_menu(section, path)
    try:
        result = publish_menu(gateway, section, dry_run=args.dry_run)
    except ConfigurationError:
        raise
    except BridgeError as error:
        print(f"connector: menu publish: {error}", file=sys.stderr)
        return 1
    for line in result.lines():
        print(line)
    if args.dry_run:
        calls = []
        if result.plan.create is not None:
            calls.append({"call": "menu/create", "body": result.plan.create})
        calls += [{"call": "menu/delconditional", "body": {"menuid": m}}
                  for m in result.plan.delete]
        calls += [{"call": "menu/addconditional", "tag": t, "body": b}
                  for t, b in result.plan.add]
        print(json.dumps(calls, indent=2, ensure_ascii=False))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from connector.menu.plan import diff_lines
    from connector.menu.publish import current_menus, tag_ids, wanted_menus

    gateway, section, path = _account(args)
    try:
        current = current_menus(gateway)
        wanted = wanted_menus(section, tag_ids(gateway, section)) if section else None
    except ConfigurationError:
        raise
    except BridgeError as error:
        print(f"connector: menu show: {error}", file=sys.stderr)
        return 1
    print(json.dumps(current.document(), indent=2, ensure_ascii=False))
    if wanted is None:
        print(f"({path} declares no menu: the bridge leaves this one alone)")
    elif diff_lines(wanted, current):
        print(f"DIFFERS from {path}: `connector menu diff` shows how, "
              "`connector menu publish` makes it the file's")
    else:
        print(f"the same as {path}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from connector.menu.publish import menu_diff

    gateway, section, path = _account(args)
    section = _needs_menu(section, path)
    try:
        lines = menu_diff(gateway, section)
    except ConfigurationError:
        raise
    except BridgeError as error:
        print(f"connector: menu diff: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    if not lines:
        print(f"WeChat's menu is the same as {path}")
    return 1 if lines else 0


def cmd_trymatch(args: argparse.Namespace) -> int:
    from connector.menu.plan import normalise

    gateway, _section, _path = _account(args)
    try:
        answer = gateway.try_match_menu(args.openid)
    except BridgeError as error:
        print(f"connector: menu trymatch: {error}", file=sys.stderr)
        return 1
    print(json.dumps(normalise(answer.get("button") or []), indent=2, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    menu = subparsers.add_parser("menu", help="the account's custom menu (mapping menu:)")
    msub = menu.add_subparsers(dest="menu_command", required=True)

    def command(name: str, func, help_: str, description: str) -> argparse.ArgumentParser:
        parser = msub.add_parser(name, help=help_, description=description)
        parser.add_argument("--account", metavar="gh_...",
                            help="the account's original id (default: the primary)")
        parser.set_defaults(func=func)
        return parser

    publish = command("publish", cmd_publish, "make WeChat's menu the mapping file's",
                      "Read WeChat's menu and make only the calls that differ: the default "
                      "menu (menu/create) and a conditional menu per tag "
                      "(menu/addconditional). Publishing an unchanged menu calls nothing.")
    publish.add_argument("--dry-run", action="store_true",
                         help="print the calls (JSON) instead of making them")
    command("show", cmd_show, "WeChat's menu now, and whether it is the file's",
            "Print the menu WeChat holds (menu/get) as JSON, conditional menus by tag "
            "name, and whether it is the mapping file's.")
    command("diff", cmd_diff, "how WeChat's menu differs from the file's",
            "A unified diff from WeChat's menu to the mapping file's; exit 1 when they "
            "differ.")
    trymatch = command("trymatch", cmd_trymatch, "the menu one follower sees",
                       "WeChat's menu/trymatch: the conditional menu of the follower's "
                       "tags, else the default.")
    trymatch.add_argument("openid", metavar="OPENID")
