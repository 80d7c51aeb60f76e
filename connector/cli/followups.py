"""``connector followups``: the automatic follow-ups (the mapping's ``follow_ups:``).

    connector followups list [--status S] [--limit N] [--json]   pending, sent, skipped,
                                                                 failed, cancelled, and why
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

STATUSES = ("pending", "sending", "sent", "skipped", "failed", "cancelled")


def _when(value: str) -> str:
    return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d %H:%M:%S") \
        if value else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from connector.followups.store import counts, listing
    from connector.redis_connection import connect
    from connector.settings import get_settings

    redis = connect(get_settings().redis_url)
    states = listing(redis, limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps([{"id": s.id, **s.fields} for s in states], indent=2))
        return 0
    totals = counts(redis)
    print("follow-ups: " + ("  ".join(f"{k} {totals[k]}" for k in STATUSES if k in totals)
                            or "none kept (they are kept 30 days)"))
    for s in states:
        channel = f" by {s['channel']}" if s["channel"] else ""
        print(f"{s.id}  {s.status:<9} {s['rule']}  to {s['openid']} ({s['account']})  "
              f"due {_when(s['due'])} UTC{channel}")
        if s["reason"]:
            print(f"    {s['reason']}")
        if s["message_id"]:
            print(f"    recorded as message {s['message_id']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    followups = subparsers.add_parser("followups", help="the automatic follow-ups")
    fsub = followups.add_subparsers(dest="followups_command", required=True)
    show = fsub.add_parser(
        "list", help="the latest follow-ups, newest due first, with their status and why",
        description="Follow-ups kept in Redis (30 days): pending (waiting for their "
        "delay), sent, skipped (no window open and no template), failed, or cancelled "
        "(the follower unfollowed, or an unless: condition held), with the reason.")
    show.add_argument("--status", choices=STATUSES, help="only follow-ups in this status")
    show.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_list)
