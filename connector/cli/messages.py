"""``connector messages``: send a message to followers from the command line, and see how
a message request went.

    connector messages send --template ID --data JSON [--url URL] (--follower OPENID |
                            --campaign ID | --tag NAME) [--account gh_…]
    connector messages send --text TEXT …        a customer-service message
    connector messages send --mass-text TEXT …   a mass message (or --mass-news MEDIA_ID)
    connector messages send --request ID         run a request made in Salesforce
    connector messages status ID [--json]        counts, and why recipients were skipped

``send`` creates the request record in Salesforce (so it shows there like one an admin
made) and sends it at once, in this process, with the worker's own code. Each ``send``
without ``--request`` makes a NEW request (it prints its Id): to finish or retry one,
run ``send --request ID``, which sends nobody twice. Exit codes: 0 done, 1 the request
failed or was refused (the message says why), 3 Salesforce or WeChat failed for now (run
the printed command again later).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from connector.errors import BridgeError, RetriableError

if TYPE_CHECKING:  # the context loads both client libraries: imported when a command runs
    from connector.context import WorkerContext


def register(subparsers: Any) -> None:
    """Add ``messages send`` and ``messages status`` to the ``connector`` parser."""
    messages = subparsers.add_parser("messages", help="send messages to followers from "
                                     "Salesforce requests, and follow them up")
    sub = messages.add_subparsers(dest="messages_command", required=True)
    send = sub.add_parser("send", help="create a message request and send it (or run one)",
                          description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    what = send.add_mutually_exclusive_group(required=True)
    what.add_argument("--template", metavar="ID", help="a template message: the template id")
    what.add_argument("--text", help="a customer-service message (inside WeChat's windows)")
    what.add_argument("--mass-text", metavar="TEXT", help="a mass message of this text")
    what.add_argument("--mass-news", metavar="MEDIA_ID", help="a mass message of an article")
    what.add_argument("--request", metavar="ID", help="run the existing request ID")
    send.add_argument("--data", help="the template data as a JSON object, e.g. "
                      "'{\"first\": \"Hello\"}'")
    send.add_argument("--url", help="the page a template message opens")
    to = send.add_mutually_exclusive_group()
    to.add_argument("--follower", metavar="OPENID", help="one follower, by OpenID")
    to.add_argument("--campaign", metavar="ID", help="the members of a Campaign")
    to.add_argument("--tag", metavar="NAME", help="the followers with a WeChat tag")
    send.add_argument("--account", metavar="gh_…", help="the sending Official Account "
                      "(default: the primary one)")
    send.add_argument("--json", action="store_true", help="print the outcome as JSON")
    send.set_defaults(func=cmd_send)
    status = sub.add_parser("status", help="a request's counts and skip reasons")
    status.add_argument("request_id", metavar="ID")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)


def _fail(text: str, code: int = 1) -> int:
    print(f"connector: {text}", file=sys.stderr)
    return code


def request_fields(args: argparse.Namespace, ctx: WorkerContext) -> dict[str, Any] | str:
    """The request record to create from the arguments, or what is wrong with them.

    Raises:
        BridgeError: the follower's record could not be looked up.
    """
    from connector.messaging.requests import follower_record

    f = ctx.mapping.messages.request
    if not (args.follower or args.campaign or args.tag):
        return "say who receives it: --follower OPENID, --campaign ID or --tag NAME"
    if args.template is None and (args.data or args.url):
        return "--data and --url are for template messages (--template ID)"
    channel = ("template" if args.template else "customer_service" if args.text
               else "mass")
    values: dict[str, Any] = {f.channel: channel, f.status: "Requested", f.send: False}
    if args.template:
        try:
            data = json.loads(args.data) if args.data else {}
        except ValueError as exc:
            return f"--data is not valid JSON ({exc})"
        if not isinstance(data, dict):
            return "--data must be a JSON object, e.g. '{\"first\": \"Hello\"}'"
        values.update({f.template_id: args.template, f.data: json.dumps(data,
                                                                          ensure_ascii=False)})
        if args.url:
            values[f.url] = args.url
    elif args.text or args.mass_text:
        values[f.content] = args.text or args.mass_text
    else:
        values[f.media_id] = args.mass_news
    if args.account:
        if not f.account:
            return "the mapping's messages.request has no account field (account: null)"
        values[f.account] = args.account
    if args.follower:
        record = follower_record(ctx, args.follower)
        if record is None:
            follower = ctx.mapping.follower
            return (f"no {follower.object} record has {follower.external_id} "
                    f"{args.follower}; the follower must have reached Salesforce first")
        values.update({f.target: "follower", f.follower: record})
    elif args.campaign:
        values.update({f.target: "campaign", f.campaign: args.campaign})
    else:
        values.update({f.target: "tag", f.tag: args.tag})
    return values


def cmd_send(args: argparse.Namespace) -> int:
    from connector.messaging.requests import create_request
    from connector.messaging.run import run_request
    from jobs.runtime import build_context

    ctx = build_context()
    message_id = args.request or "<ID>"
    try:
        if not args.request:
            values = request_fields(args, ctx)
            if isinstance(values, str):
                return _fail(values)
            message_id = create_request(ctx, values)
            print(f"request {message_id} created", file=sys.stderr)
        summary = run_request(ctx, message_id)
    except RetriableError as error:
        return _fail(f"{error}\n  nothing is sent twice: run `connector messages send "
                     f"--request {message_id}` again later", 3)
    except BridgeError as error:
        return _fail(str(error))
    finally:
        ctx.salesforce.close()
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        new = ", ".join(f"{n} {s}" for s, n in sorted(summary.new.items())) or "nothing new"
        print(f"{summary.message}: {summary.status} — this run: {new}; totals: "
              + ", ".join(f"{n} {s}" for s, n in sorted(summary.totals.items())))
        if summary.skipped:
            print(f"  skipped: {summary.skip_reasons()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from connector.messaging.requests import request_report
    from jobs.runtime import build_context

    ctx = build_context()
    try:
        report = request_report(ctx, args.request_id)
    except BridgeError as error:
        return _fail(str(error))
    finally:
        ctx.salesforce.close()
    if report is None:
        return _fail(f"no {ctx.mapping.messages.request.object} record has the Id "
                     f"{args.request_id}")
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(f"{report.id}: {report.status}  sent {report.sent}  delivered "
          f"{report.delivered}  skipped {report.skipped}  failed {report.failed}")
    print(f"  {report.kind} to {report.target} {report.audience or ''}, asked by "
          f"{report.asked_by or 'unknown'} at {report.created}")
    for line in report.outcomes:
        print(f"  {line.count:>6}  {line.status}: {line.label}")
    if report.waiting:
        print(f"  waiting: {report.waiting['why']}")
    if report.error:
        print(f"  error: {report.error}")
    return 0
