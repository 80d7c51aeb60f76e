"""``connector``: the bridge's command line.

    connector demo                      the whole journey on embedded defaults
    connector run                       web + worker + clock from the configuration
    connector web | worker              one process each (what the Procfile runs)
    connector sandbox --env-file PATH [--callback-url URL]   both emulators, their config vars
    connector status                    queue, failures with reasons, kept events
    connector replay [JOB_ID ...] [--all] [--unhandled]
    connector mappings validate [FILE] [--against-org]   check a mapping file
    connector mappings preview --event PUSH.xml   the writes a push would cause
    connector mappings schema           JSON Schema of the mapping file
    connector qr create --record ID [--temporary DAYS] [--channel NAME] [--force]   a QR code
    connector campaigns stats ID        scans, scanners, followers, members per channel
    connector replies refresh | show ID the campaign auto-reply cache
    connector messages send | status    messages to followers, within WeChat's rules
    connector clock                     the one clock process (polls Salesforce for changes)
    connector sync poll|status|replay   the way back: poll now, what it did, failed jobs
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from connector.errors import ConfigurationError

# Modules that add their own subcommands: each has ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = ("connector.cli_campaigns", "connector.cli_replies",
                                    "connector.cli_qr", "connector.cli_sync",
                                    "connector.cli_messages")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from connector.demo import run_demo

    return run_demo(lambda text: print(text, flush=True), followers=args.followers,
                    seed=args.seed)


def cmd_run(_args: argparse.Namespace) -> int:
    from connector.processes import run_all

    return run_all()


def cmd_web(_args: argparse.Namespace) -> int:
    from connector.processes import run_web

    run_web()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from connector.processes import run_worker

    run_worker(burst=args.burst)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.run import start_sandbox

    box = start_sandbox(followers=args.followers, seed=args.seed, host=args.host,
                        salesforce_port=args.salesforce_port, wechat_port=args.wechat_port,
                        accounts=args.accounts)
    for name in ("Spring poster", "Product label"):
        campaign_id = box.salesforce.seed("Campaign", Name=name, IsActive=True)
        print(f"campaign {name!r}: {campaign_id}  scene sfc_{campaign_id}")
    if args.env_file:
        box.write_env(Path(args.env_file))
        print(f"config vars written to {args.env_file} (REDIS_URL not included)")
    if args.callback_url:  # people's acts and job-finish reports go to the bridge
        from sandbox.wechat import CallbackSender

        env = box.env
        sender = CallbackSender(args.callback_url, token=env["WECHAT_TOKEN"],
                                app_id=env["WECHAT_APP_ID"],
                                original_id=env["WECHAT_ORIGINAL_ID"],
                                encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"])
        box.wechat.callback = sender
        box.wechat.outbox.notify = sender.deliver
        print(f"pushes delivered to {args.callback_url} (POST /__sandbox__/wechat/acts)")
    print(f"Salesforce sandbox: {box.salesforce_url}")
    print(f"WeChat sandbox:     {box.wechat_url}")
    for server in box.servers[2:]:
        print(f"WeChat sandbox:     {server.url} (WECHAT_ACCOUNTS)")
    print("serving until killed (Ctrl-C)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    box.stop()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from connector.status import collect_status

    status = collect_status()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"queued: {status['queued']}  running: {status['running']}  "
          f"scheduled retries: {status['scheduled']}  failed: {status['failed_count']}  "
          f"kept unhandled: {status['unhandled']}  rejected pushes: {status['rejected']}")
    for item in status["failed"]:
        print(f"  {item['job_id']}  {item['description']}\n    {item['reason']}")
    again = {"changes": "connector sync replay --all",
             "messages": "connector messages send --request ID"}
    for name, queue in status["queues"].items():
        print(f"{name}: queued {queue['queued']}  running {queue['running']}  scheduled "
              f"retries {queue['scheduled']}  failed {queue['failed_count']}"
              + (f"  (run again: {again.get(name)})" if queue["failed_count"] else ""))
        for description in queue["failed"]:
            print(f"  {description}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from connector.redis_connection import connect
    from jobs.replay import replay_failed, replay_unhandled

    redis = connect()
    if args.unhandled:
        print(f"re-enqueued {replay_unhandled(redis)} kept events")
    if args.all or args.job_ids:
        ids = replay_failed(redis, None if args.all else args.job_ids)
        print(f"requeued {len(ids)} failed jobs")
    return 0


def cmd_mappings_validate(args: argparse.Namespace) -> int:
    """Exit 0: valid (warnings allowed); 1: the mapping has errors; 2 (via ``main``): the
    settings needed for ``--against-org`` are missing or the login fails."""
    from connector.settings import DEFAULT_MAPPING
    from mappings.loader import MappingError, load_mapping

    path = Path(args.file) if args.file else DEFAULT_MAPPING
    try:
        mapping = load_mapping(path)
    except MappingError as error:
        for line, column, text in error.problems:
            print(f"{path}:{line}:{column}: error: {text}")
        return 1
    if not args.against_org:
        from mappings.org_check import check_offline

        problems = check_offline(mapping, path.read_text(encoding="utf-8"), path)
        for problem in problems:
            print(problem)
        print(f"{path}: {len(problems)} error(s)" if problems else f"{path}: valid")
        return 1 if problems else 0

    from connector.errors import BridgeError, ConfigurationError
    from connector.salesforce import SalesforceGateway
    from connector.settings import SalesforceSettings, load_settings
    from mappings.org_check import check_against_org

    # only the Salesforce config vars: an admin checking a mapping needs no WeChat ones
    gateway = SalesforceGateway(load_settings(SalesforceSettings))

    def describe(sobject: str) -> dict | None:
        try:
            return gateway.describe(sobject)
        except ConfigurationError as error:
            if error.code == "NOT_FOUND":  # an object the org lacks: reported as a problem
                return None
            raise

    try:
        problems = check_against_org(mapping, path.read_text(encoding="utf-8"), path,
                                     describe)
    except ConfigurationError:
        raise
    except BridgeError as error:  # the org did not answer: nothing was checked
        print(f"connector: cannot read the org's describe: {error}", file=sys.stderr)
        return 2
    finally:
        gateway.close()
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{path}: {errors} error(s), {warnings} warning(s) against the org" if problems
          else f"{path}: valid against the org")
    return 1 if errors else 0


def cmd_mappings_preview(args: argparse.Namespace) -> int:
    from connector.settings import get_settings, load_settings
    from jobs.context import build_context
    from jobs.preview import preview_push

    settings = load_settings(MAPPING_FILE=args.mapping) if args.mapping else get_settings()
    try:
        xml = Path(args.event).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"connector: cannot read {args.event}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        result = preview_push(build_context(settings), xml)
    except ValueError as exc:
        print(f"connector: {args.event}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_mappings_schema(_args: argparse.Namespace) -> int:
    from mappings.models import Mapping

    schema = Mapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "WeChat-Salesforce bridge mapping file"
    print(json.dumps(schema, indent=2))
    return 0


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

    box = sub.add_parser("sandbox", help="serve the Salesforce and WeChat emulators")
    box.add_argument("--env-file", help="write the config vars for a bridge to this file")
    box.add_argument("--followers", type=int, default=200)
    box.add_argument("--seed", type=int, default=7)
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--salesforce-port", type=int, default=0)
    box.add_argument("--wechat-port", type=int, default=0)
    box.add_argument("--callback-url",
                     help="the bridge's /wechat/callback: job-finish reports and the acts "
                     "posted to /__sandbox__/wechat/acts are delivered there, like WeChat")
    box.add_argument("--accounts", type=int, default=1,
                     help="Official Accounts to emulate (the others in WECHAT_ACCOUNTS)")
    box.set_defaults(func=cmd_sandbox)

    status = sub.add_parser("status", help="queue, failures and kept events")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    replay = sub.add_parser("replay", help="run failed or kept events again")
    replay.add_argument("job_ids", nargs="*")
    replay.add_argument("--all", action="store_true", help="every failed job")
    replay.add_argument("--unhandled", action="store_true", help="the kept unhandled events")
    replay.set_defaults(func=cmd_replay)

    mappings = sub.add_parser("mappings", help="mapping file tools")
    msub = mappings.add_subparsers(dest="mappings_command", required=True)
    validate = msub.add_parser(
        "validate", help="check a mapping file; exit 1 when it has errors",
        description="List every problem as file:line:col: error|warning: text. Exit 0 "
        "when there is no error (warnings allowed), 1 when there is one, 2 when the "
        "settings needed for --against-org are missing or wrong.")
    validate.add_argument("file", nargs="?", help="the mapping file (default: the shipped one)")
    validate.add_argument(
        "--against-org", action="store_true",
        help="also check objects, fields, types, picklists and required fields against "
        "the org's describe (logs in with the SALESFORCE_* config vars)")
    validate.set_defaults(func=cmd_mappings_validate)
    preview = msub.add_parser(
        "preview", help="the exact Salesforce writes one push would cause (writes nothing)")
    preview.add_argument("--event", required=True, help="a push's XML (plain, as decrypted)")
    preview.add_argument("--mapping", help="the mapping file (default: MAPPING_FILE)")
    preview.set_defaults(func=cmd_mappings_preview)
    msub.add_parser("schema", help="JSON Schema of the mapping file, for editors").set_defaults(
        func=cmd_mappings_schema)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return args.func(args)
    except BrokenPipeError:  # the output was piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except ConfigurationError as error:
        # Settings and mapping problems: the message already names the variable/line and fix.
        print(f"connector: {error.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
