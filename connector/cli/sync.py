"""``connector clock`` and ``connector sync``: the way back's processes and tools.

    connector clock [--no-wait]       the one clock process (what the Procfile runs)
    connector sync poll [--json]      poll Salesforce for changes now (jobs for the workers)
    connector sync status [--json]    watermarks, last polls, echoes dropped, writes made,
                                      failed change jobs with their reasons
    connector sync replay JOB_ID… | --all   run failed change jobs again
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime


def cmd_clock(args: argparse.Namespace) -> int:
    from connector.cli.processes import run_clock

    return run_clock(wait=not args.no_wait)


def cmd_poll(args: argparse.Namespace) -> int:
    from connector.wayback.poll import poll
    from jobs.runtime import get_context

    result = poll(get_context())
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if "status" in result:
        print(result["status"])
    for obj, summary in result.items():
        if isinstance(summary, dict):
            print(f"{obj}: {summary['new']} changed records ({summary['found']} read), "
                  f"{summary['jobs']} jobs queued, watermark {summary['watermark']}")
    if not result:
        print("nothing is watched (no field rule has sync: to_wechat or both)")
    return 0


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_status(args: argparse.Namespace) -> int:
    from connector.redis_connection import connect
    from jobs.status import collect_sync
    from jobs.waiting import reason_lines

    status = collect_sync(connect())
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"clock: {status['clock'] or 'not running'}")
    for obj, poll in sorted(status["polls"].items()):
        print(f"  {obj}: watermark {poll['watermark'] or '-'}, last poll {_when(poll['at'])} "
              f"({poll['new']} new of {poll['found']} read, {poll['ms']} ms)")
    counters = status["counters"]
    print(f"echoes dropped: {counters.get('echoes', 0)}  unchanged: "
          f"{counters.get('unchanged', 0)}  remarks set: {counters.get('remarks', 0)}  "
          f"tagged: {counters.get('tagged', 0)}  untagged: {counters.get('untagged', 0)}  "
          f"tags created: {counters.get('tags_created', 0)}  refused: "
          f"{counters.get('refused', 0)}")
    print(f"records notified: {counters.get('notified', 0)}  polled: "
          f"{counters.get('polled', 0)}")
    print(f"change jobs queued: {status['queued']}  scheduled retries: "
          f"{status['scheduled']}  failed: {status['failed_count']}")
    for line in reason_lines(status["retries_waiting"]):
        print(line)
    for item in status["failed"]:
        print(f"  {item['job_id']}  {item['description']}\n    {item['reason']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from connector.redis_connection import connect
    from jobs.replay import replay_changes

    ids = replay_changes(connect(), None if args.all else args.job_ids)
    print(f"requeued {len(ids)} failed change jobs")
    return 0


def register(subparsers) -> None:
    """Add ``clock`` and ``sync poll|status|replay`` to the ``connector`` command."""
    clock = subparsers.add_parser(
        "clock", help="the one clock process: polls Salesforce for changes",
        description="Enqueues the change poll every POLL_INTERVAL_SECONDS (rq cron). Only "
        "one clock runs: a second one waits for the first to stop.")
    clock.add_argument("--no-wait", action="store_true",
                       help="exit with status 1 if another clock runs, instead of waiting")
    clock.set_defaults(func=cmd_clock)

    sync = subparsers.add_parser("sync", help="the way back (Salesforce to WeChat)")
    sub = sync.add_subparsers(dest="sync_command", required=True)
    poll = sub.add_parser("poll", help="poll Salesforce for changes now")
    poll.add_argument("--json", action="store_true")
    poll.set_defaults(func=cmd_poll)
    status = sub.add_parser("status", help="watermarks, echoes dropped, failed change jobs")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    replay = sub.add_parser("replay", help="run failed change jobs again")
    replay.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    replay.add_argument("--all", action="store_true", help="every failed change job")
    replay.set_defaults(func=cmd_replay)
