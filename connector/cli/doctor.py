"""``connector doctor``: the preflight a Salesforce admin runs before going live.

    connector doctor [--url https://your-app.example.com] [--json]

Checks the configured org and every configured Official Account (see
:mod:`connector.doctor`): each line ok, or what to fix. ``--url`` is the bridge's public
base URL; with it, the WeChat callback and the Outbound Message endpoint are knocked on
as WeChat and Salesforce would. Exit 0 when nothing failed (warnings allowed), 1 when
something must be fixed first, 2 when the configuration itself cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.doctor.report import Check


def cmd_doctor(args: argparse.Namespace) -> int:
    from connector.doctor.report import exit_code, render

    checks = run_checks(args.url)
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2, ensure_ascii=False))
    else:
        print(render(checks))
        failed = sum(c.status == "fail" for c in checks)
        print(f"\n{failed} check(s) need a fix first" if failed else "\nready to go live")
    return exit_code(checks)


def run_checks(public_url: str | None) -> list[Check]:
    """Every check against the configuration's org and accounts.

    Raises:
        ConfigurationError: the settings cannot be read (``main`` prints the fix).
    """
    from connector.doctor.account import check_account
    from connector.doctor.org import check_org
    from connector.doctor.report import Check
    from connector.redis_connection import connect
    from connector.salesforce import SalesforceGateway
    from connector.settings import load_settings
    from connector.wechat import WeChatAccounts
    from mappings.loader import MappingError, load_mapping

    settings = load_settings()  # read now: a preflight checks what is set at this moment
    checks: list[Check] = []
    mapping = None
    try:
        mapping = load_mapping(settings.MAPPING_FILE)
    except MappingError as error:
        lines = "\n".join(f"{settings.MAPPING_FILE}:{line}:{column}: {text}"
                          for line, column, text in error.problems)
        checks.append(Check("Mapping", "grammar", "fail", lines or str(error)))
    gateway = SalesforceGateway(settings)  # a login of its own: the credentials are checked
    try:
        checks += check_org(gateway, settings, mapping, settings.MAPPING_FILE, public_url)
    finally:
        gateway.close()
    accounts = WeChatAccounts.from_settings(settings, connect(settings.redis_url))
    for account in settings.wechat_accounts():
        checks += check_account(accounts.for_account(account.original_id), account,
                                public_url)
    return checks


def register(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="preflight: check the org and the accounts "
                            "before going live")
    doctor.add_argument("--url", default=os.environ.get("BRIDGE_URL"),
                        help="the bridge's public base URL (default: $BRIDGE_URL); "
                        "checks the WeChat callback and the Outbound Message endpoint")
    doctor.add_argument("--json", action="store_true", help="the checks as JSON")
    doctor.set_defaults(func=cmd_doctor)
