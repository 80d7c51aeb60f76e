"""``connector backfill``: the account's existing followers into Salesforce.

    connector backfill [--account gh_...] [--restart] [--as subscribe|scan] [--no-campaigns]
    connector backfill status [--account gh_...] [--json]

A run resumes where the last one stopped (``--restart`` starts from the first page).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.backfill.state import Snapshot


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def report_lines(snap: Snapshot, *, running: bool | None = None) -> list[str]:
    """What ``status`` and the end of a run print. ``running``: whether a backfill holds
    the account's lock now (a ``running`` state without one was killed)."""
    status = snap.status
    if status in ("running", "waiting") and running is False:
        status = f"interrupted (last {status}; run `connector backfill` to resume)"
    elif snap.why:
        status = f"{status}: {snap.why}"
    data = snap.to_dict()
    lines = [
        f"backfill of {snap.account}: {status}",
        f"  started {_when(snap.started)}, updated {_when(snap.updated)}, "
        f"finished {_when(snap.finished)}",
        f"  pages done: {data['pages_done']}  followers read: {data['read']:,} of "
        f"{snap.total:,}",
        f"  persons created: {data['created']:,}  matched: {data['matched']:,}  "
        f"skipped: {data['skipped']:,}",
    ]
    lines += [f"    {n:,} skipped: {why}" for why, n in sorted(snap.skipped.items())]
    read = data["read"] or 0
    per = f" ({data['calls_salesforce'] / read:.3f} per follower)" if read else ""
    lines.append(f"  API calls: WeChat {data['calls_wechat']:,}, Salesforce "
                 f"{data['calls_salesforce']:,}{per}")
    return lines


def cmd_backfill(args: argparse.Namespace) -> int:
    from connector.backfill.followers import Treatment
    from connector.backfill.polite import Politeness
    from connector.backfill.progress import for_stream
    from connector.backfill.run import backfill
    from jobs.queues import inbound_queue
    from jobs.runtime import get_context

    if args.action == "status":
        return cmd_status(args)
    ctx = get_context()
    queue = inbound_queue(ctx.redis)
    progress = for_stream(sys.stderr)
    try:
        snap = backfill(ctx, args.account, restart=args.restart,
                        treatment=Treatment(args.kind, not args.no_campaigns),
                        polite=Politeness(live_waiting=lambda: queue.count),
                        progress=progress)
    finally:
        progress.close()
    print("\n".join(report_lines(snap, running=True)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from connector.backfill.state import BackfillState, accounts
    from connector.redis_connection import connect

    redis = connect()
    names = [args.account] if args.account else accounts(redis)
    if not names:
        print("no backfill has run (start one with `connector backfill`)")
        return 0
    states = [BackfillState(redis, name) for name in names]
    found = [(s.snapshot(), bool(redis.exists(s.lock_name))) for s in states]
    if args.json:
        print(json.dumps([{**snap.to_dict(), "held": held} for snap, held in found],
                         indent=2))
        return 0
    for snap, held in found:
        print("\n".join(report_lines(snap, running=held)))
    return 0


def register(subparsers) -> None:
    """Add ``backfill [status]`` to the ``connector`` command."""
    parser = subparsers.add_parser(
        "backfill", help="write the account's existing followers to Salesforce",
        description="Pages WeChat's follower list, reads the profiles and writes every "
        "follower as a follow event (persons, follower records, campaign members), 200 "
        "records per Salesforce call. Resumable: run it again after a stop.")
    parser.add_argument("action", nargs="?", choices=["run", "status"], default="run",
                        help="status: what the last run did (from Redis)")
    parser.add_argument("--account", help="the Official Account's original id (gh_...); "
                        "default: the primary account")
    parser.add_argument("--restart", action="store_true",
                        help="forget the previous run and start from the first page")
    parser.add_argument("--as", dest="kind", choices=["subscribe", "scan"],
                        default="subscribe", help="the event a follower counts as "
                        "(default: a follow at their subscribe_time)")
    parser.add_argument("--no-campaigns", action="store_true",
                        help="do not make followers members of the campaign their "
                        "qr_scene_str names")
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.set_defaults(func=cmd_backfill)
