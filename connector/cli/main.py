"""``connector``: the bridge's command line.

    connector demo                      the whole journey on embedded defaults
    connector run                       web + worker + clock from the configuration
    connector web | worker              one process each (what the Procfile runs)
    connector sandbox --env-file PATH [--callback-url URL]   both emulators, their config vars
    connector doctor [--url URL]        preflight: the org and accounts, before going live
    connector status                    queue, failures with reasons, kept events (exit 1
                                        while anything needs an operator)
    connector replay [JOB_ID ...] [--all] [--unhandled]
    connector stop [--force]            shut the project's embedded Redis down
    connector mappings validate [FILE] [--against-org]   check a mapping file
    connector mappings preview --event PUSH.xml   the writes a push would cause
    connector mappings schema           JSON Schema of the mapping file
    connector qr create --record ID [--temporary DAYS] [--channel NAME] [--force]   a QR code
    connector campaigns stats ID        scans, scanners, followers, members per channel
    connector replies refresh | show ID the campaign auto-reply cache
    connector messages send | status    messages to followers, within WeChat's rules
    connector menu publish|show|diff|trymatch   the custom menu, from the mapping's menu:
    connector followups list            automatic follow-ups: pending, sent, cancelled, why
    connector clock                     the one clock process (polls Salesforce for changes)
    connector sync poll|status|replay   the way back: poll now, what it did, failed jobs
    connector backfill [--account gh_…] [--restart] | status   existing followers in
"""

from __future__ import annotations

import argparse
import json
import sys

from redis import exceptions as redis_errors

from connector.cli import (
    backfill,
    campaigns,
    doctor,
    followups,
    mappings,
    menu,
    messages,
    qr,
    quotas,
    replies,
    sandbox,
    sync,
)
from connector.errors import ConfigurationError


def unreachable_redis(error: Exception) -> str:
    """One line naming the Redis that did not answer and the fix."""
    import os

    from connector.embedded_redis import redact

    url = os.environ.get("REDIS_TLS_URL") or os.environ.get("REDIS_URL") or ""
    name = "REDIS_TLS_URL" if os.environ.get("REDIS_TLS_URL") else "REDIS_URL"
    return (f"cannot reach Redis at {name}={redact(url)} ({error}); start that Redis, "
            f"or correct {name}, or unset it to use the project's embedded Redis")

# A command imports what it needs when it runs, not here: importing the whole bridge
# (simple-salesforce, FastAPI, rq) takes seconds, and `connector --help` or `connector
# status` should answer at once.


def _setup_logging(level: str = "INFO") -> None:
    # JSON lines off a terminal (a dyno's log), plain lines on one (connector.logs).
    from connector.logs import setup

    setup(level, sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    sandbox.require_sandbox()  # a clear message when the emulators are not installed
    from connector.cli.demo import run_demo

    return run_demo(lambda text: print(text, flush=True), followers=args.followers,
                    seed=args.seed)


def cmd_run(_args: argparse.Namespace) -> int:
    from connector.cli.processes import run_all

    return run_all()


def cmd_web(_args: argparse.Namespace) -> int:
    from connector.cli.processes import run_web

    run_web()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from connector.cli.processes import run_worker

    run_worker(burst=args.burst)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit status 1 while anything needs an operator (said last), else 0."""
    from connector.embedded_redis import describe
    from connector.redis_connection import connect, redis_url_from_env
    from jobs.status import collect_status, needs_operator, salesforce_lines
    from jobs.waiting import reason_lines
    from webhooks.rejections import RejectionLog

    redis = connect()
    status = collect_status(redis)
    redis_line = describe(redis_url_from_env())
    needs = needs_operator(status)
    # The web app's refusals are its own log's; `--json` keeps its keys in their order.
    queues = status.pop("queues")
    status.update(rejected=RejectionLog(redis).count(), queues=queues, needs_operator=needs)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 1 if needs else 0
    print(redis_line)
    print(f"queued: {status['queued']}  running: {status['running']}  "
          f"in batches: {status['in_batches']}  "
          f"scheduled retries: {status['scheduled']}  failed: {status['failed_count']}  "
          f"kept unhandled: {status['unhandled']}  rejected pushes: {status['rejected']}")
    for line in reason_lines(status["retries_waiting"]):
        print(line)
    for item in status["failed"]:
        print(f"  {item['job_id']}  {item['description']}\n    {item['reason']}")
    for name, queue in status["queues"].items():
        print(f"{name}: queued {queue['queued']}  running {queue['running']}  scheduled "
              f"retries {queue['scheduled']}  failed {queue['failed_count']}")
        for line in reason_lines(queue["retries_waiting"]):
            print(line)
        for description, reason in zip(queue["failed"], queue["reasons"], strict=True):
            print(f"  {description}\n    {reason}")
    for line in salesforce_lines(status["salesforce"]):
        print(line)
    if status["follow_ups"]:
        print("follow-ups: " + "  ".join(f"{k} {v}" for k, v in sorted(
            status["follow_ups"].items())) + "  (connector followups list)")
    print("needs an operator:\n" + "\n".join(f"  {need}" for need in needs) if needs
          else "nothing needs an operator")
    return 1 if needs else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from connector.redis_connection import connect
    from jobs.replay import UnknownJobError, replay_failed, replay_unhandled

    redis = connect()
    if args.unhandled:
        print(f"re-enqueued {replay_unhandled(redis)} kept events")
    if args.all or args.job_ids:
        try:
            ids = replay_failed(redis, None if args.all else args.job_ids)
        except UnknownJobError as error:
            print(f"connector: {error}; `connector status` lists the failed jobs' ids",
                  file=sys.stderr)
            return 1
        print(f"requeued {len(ids)} failed jobs")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Shut the embedded Redis down cleanly; 1 when a process still uses it (no --force)."""
    from connector.embedded_redis import in_use, place, shutdown

    where = place()
    if in_use(where) and not args.force:
        print(f"connector: the embedded Redis at {where.socket} is still used by a connector "
              "process (stop `connector run` first, or use --force)", file=sys.stderr)
        return 1
    if shutdown(where):
        print(f"stopped the embedded Redis at {where.socket} (its data is kept in "
              f"{where.folder})")
    else:
        print(f"the embedded Redis at {where.socket} was not running")
    return 0


def plain(text: str | None) -> str | None:
    """``text`` (a module docstring) as a terminal shows it: without reStructuredText's
    literal quotes, which are markup for the docs, not for `--help`."""
    return text.replace("``", "") if text else text


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip docstring markup from every description, epilog and help in ``parser``."""
    parser.description, parser.epilog = plain(parser.description), plain(parser.epilog)
    for action in parser._actions:
        action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for child in action.choices.values():
                _plain_help(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="play a campaign scenario against the sandbox")
    demo.add_argument("--followers", type=int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("run", help="start web + worker + clock").set_defaults(func=cmd_run)
    sub.add_parser("web", help="serve the WeChat callback on $PORT").set_defaults(func=cmd_web)
    worker = sub.add_parser("worker", help="run an RQ worker")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(func=cmd_worker)
    sandbox.register(sub)

    status = sub.add_parser("status", help="queue, failures and kept events")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    replay = sub.add_parser("replay", help="run failed or kept events again")
    replay.add_argument("job_ids", nargs="*")
    replay.add_argument("--all", action="store_true", help="every failed job")
    replay.add_argument("--unhandled", action="store_true", help="the kept unhandled events")
    replay.set_defaults(func=cmd_replay, parser=replay)

    stop = sub.add_parser("stop", help="shut the project's embedded Redis down")
    stop.add_argument("--force", action="store_true",
                      help="even while a connector process still uses it")
    stop.set_defaults(func=cmd_stop)

    for commands in (doctor, mappings, campaigns, replies, qr, sync, messages, menu,
                     followups, backfill, quotas):
        commands.register(sub)
    _plain_help(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is cmd_replay and not (args.job_ids or args.all or args.unhandled):
        args.parser.error("name the failed jobs to replay: JOB_ID ..., --all or --unhandled")
    _setup_logging(args.log_level)
    try:
        return args.func(args)
    except BrokenPipeError:  # the output was piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        print(f"connector: {unreachable_redis(error)}", file=sys.stderr)
        return 1
    except ConfigurationError as error:
        # Settings and mapping problems: the message already names the variable/line and fix.
        print(f"connector: {error.message}", file=sys.stderr)
        return 2
