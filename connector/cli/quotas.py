"""``connector quotas``: each Official Account's daily WeChat call quota per API today.

    connector quotas [--json]                   the bridge's own count (spends nothing)
    connector quotas --refresh [PATH ...]       first ask WeChat (openapi/quota/get)

The count is the bridge's (``connector/wechat_quotas.py``): every call WeChat answered,
per cgi path, this Beijing day, and the APIs WeChat refused with 45009. ``--refresh``
asks WeChat for its own figures of the APIs named (default: those the bridge called
today), one ``openapi/quota/get`` call each, which has a daily quota of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from connector.errors import BridgeError


def _table(name: str, quotas: list) -> str:
    lines = [f"{name}  (Beijing day; resets at midnight Beijing time)",
             f"  {'API':34} {'used':>9} {'limit':>10} {'left':>10}  state"]
    for q in quotas:
        limit = "?" if q.limit is None else str(q.limit)
        left = "" if q.remaining is None else str(q.remaining)
        state = ("EXHAUSTED (45009)" if q.exhausted_at else "EXHAUSTED" if q.exhausted
                 else "")
        if q.checked:
            state += f"{'; ' if state else ''}WeChat said {q.checked.get('used')} used"
        lines.append(f"  {q.api:34} {q.used:>9} {limit:>10} {left:>10}  {state}".rstrip())
    return "\n".join(lines)


def cmd_quotas(args: argparse.Namespace) -> int:
    from connector import wechat_quotas
    from connector.redis_connection import connect
    from connector.settings import get_settings

    settings = get_settings()
    redis = connect(settings.redis_url)
    now = time.time()
    if args.refresh is not None:
        failed = _refresh(settings, redis, args.refresh, now)
        if failed:
            return 1
    accounts = {a.original_id or a.app_id: wechat_quotas.read(redis, a.app_id, now)
                for a in settings.wechat_accounts()}
    if args.json:
        print(json.dumps({name: [{"api": q.api, "used": q.used, "limit": q.limit,
                                  "remaining": q.remaining, "exhausted": q.exhausted,
                                  "exhausted_at": q.exhausted_at, "checked": q.checked}
                                 for q in quotas] for name, quotas in accounts.items()},
                         indent=2))
        return 0
    print("\n\n".join(_table(name, quotas) for name, quotas in accounts.items()))
    return 0


def _refresh(settings, redis, paths: list[str], now: float) -> int:
    """Ask WeChat for each account's figures; how many questions failed."""
    from connector import wechat_quotas
    from connector.wechat.account_gateways import WeChatAccounts

    gateways = WeChatAccounts.from_settings(settings, redis)
    failed = 0
    for account in settings.wechat_accounts():
        gateway = gateways.for_account(account.original_id)
        wanted = paths or [q.path for q in wechat_quotas.read(redis, account.app_id, now)
                           if q.used or q.exhausted_at]
        print(f"{account.original_id or account.app_id}: asking WeChat about "
              f"{len(wanted)} APIs (one openapi/quota/get call each, from its own "
              "daily quota)", file=sys.stderr)
        for path in wanted:
            try:
                gateway.api_quota(path)
            except BridgeError as error:
                failed += 1
                print(f"connector quotas: {path}: {error}", file=sys.stderr)
    return failed


def cgi_path(value: str) -> str:
    """``/cgi-bin/user/info`` from ``user/info`` or itself; else a usage error."""
    path = value if value.startswith("/") else "/cgi-bin/" + value
    if not path.startswith("/cgi-bin/") or "?" in path:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a WeChat API path: give it as /cgi-bin/user/info or user/info")
    return path


def register(sub: argparse._SubParsersAction) -> None:
    quotas = sub.add_parser(
        "quotas", help="WeChat's daily call quota per API, as the bridge counted it today",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    quotas.add_argument("--refresh", nargs="*", type=cgi_path, metavar="PATH",
                        help="ask WeChat first (openapi/quota/get: one call of its own "
                             "daily quota per API); default: the APIs called today")
    quotas.add_argument("--json", action="store_true")
    quotas.set_defaults(func=cmd_quotas)
