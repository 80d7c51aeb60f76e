"""``connector qr``: QR codes for Salesforce records.

    connector qr create --record ID [--temporary DAYS] [--channel NAME ...] [--force]
                        [--png PATH] [--account gh_...] [--json]
    connector qr list [--record ID] [--account gh_...] [--failed] [--json]
    connector qr poll [--json]         make the codes of records flagged in Salesforce

Exit 0 when done, 1 when a code could not be made (the message says why), 2 for
configuration problems (from ``connector.cli.main``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import BridgeError, ConfigurationError

if TYPE_CHECKING:  # the feature loads the Salesforce client: imported when a command runs
    from connector.qr.registry import QrCode


def _context():
    from jobs.runtime import get_context

    return get_context()  # built from the configuration (or the one a test installed)


def _describe(code: QrCode) -> str:
    what = "made " if code.created else "found"
    life = "permanent" if code.permanent else f"until {code.expires_at:%Y-%m-%d %H:%M}Z"
    lines = [f"{what}  {code.scene}  ({code.object} {code.record_id}, {life}, "
             f"account {code.account})",
             f"       image  {code.image_url}",
             f"       url    {code.url}"]
    if code.png_path:
        lines.append(f"       saved  {code.png_path}")
    return "\n".join(lines)


def _png_path(base: str | None, channel: str | None, several: bool) -> Path | None:
    """The file for one code's image: ``--png`` itself, or with several channels
    ``<stem>-<channel><suffix>`` beside it."""
    if base is None:
        return None
    path = Path(base)
    if not several:
        return path
    return path.with_name(f"{path.stem}-{channel or 'main'}{path.suffix or '.png'}")


def cmd_create(args: argparse.Namespace) -> int:
    from connector.qr.codes import create_code
    from connector.qr.rules import QrRequestError

    ctx = _context()
    channels = args.channel or [None]
    codes, failed = [], 0
    for channel in channels:
        try:
            code = create_code(ctx, args.record, temporary_days=args.temporary,
                               channel=channel, force=args.force, account=args.account,
                               png=_png_path(args.png, channel, len(channels) > 1))
        except ConfigurationError:
            raise
        except (QrRequestError, BridgeError) as error:
            print(f"connector: qr create {args.record}"
                  + (f" --channel {channel}" if channel else "") + f": {error}",
                  file=sys.stderr)
            failed += 1
            continue
        codes.append(code)
        if not args.json:
            print(_describe(code))
    if args.json:
        print(json.dumps([c.to_dict() for c in codes], indent=2, ensure_ascii=False))
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from connector.qr.registry import QrRegistry
    from connector.qr.requests import failed_requests
    from connector.qr.rules import QrRequestError, record_id18

    ctx = _context()
    if args.failed:
        failures = failed_requests(ctx.redis)
        if args.json:
            print(json.dumps(failures, indent=2, ensure_ascii=False))
        for record_id, failure in sorted(failures.items()):
            if not args.json:
                print(f"{record_id}  {failure['reason']}")
        return 0
    try:
        record = record_id18(args.record) if args.record else None
    except QrRequestError as error:
        print(f"connector: {error}", file=sys.stderr)
        return 1
    codes = QrRegistry(ctx.salesforce, ctx.mapping.qr.registry).codes(
        record_id=record, account=args.account)
    if args.json:
        print(json.dumps([c.to_dict() for c in codes], indent=2, ensure_ascii=False))
        return 0
    for code in codes:
        life = "permanent" if code.permanent else f"until {code.expires_at:%Y-%m-%d %H:%M}Z"
        print(f"{code.scene}  {code.object} {code.record_id}  v{code.version}  {life}  "
              f"{code.image_url}")
    print(f"{len(codes)} code(s)")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from connector.qr.requests import poll_requested

    summary = poll_requested(_context())
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"made {len(summary.made)}, existed {len(summary.existed)}, failed "
              f"{len(summary.failed)}, held {len(summary.held)}")
        for record_id, reason in summary.failed.items():
            print(f"  {record_id}  {reason}")
    return 1 if summary.failed else 0


def register(subparsers) -> None:
    """Add ``qr create``, ``qr list`` and ``qr poll`` to the ``connector`` command."""
    qr = subparsers.add_parser("qr", help="QR codes for Salesforce records")
    sub = qr.add_subparsers(dest="qr_command", required=True)

    create = sub.add_parser(
        "create", help="make a record's QR code, or show the one it has",
        description="One code per record (and channel): asking again shows the existing "
        "code; --force makes a new one. The record's object must be under the mapping's "
        "qr.objects (Campaign by default).")
    create.add_argument("--record", required=True, help="the record Id (15 or 18 characters)")
    create.add_argument("--temporary", type=float, metavar="DAYS",
                        help="a temporary code, lapsing after DAYS (at most 30)")
    create.add_argument("--channel", action="append", metavar="NAME",
                        help="a channel code (one per store or branch); repeat for several")
    create.add_argument("--force", action="store_true",
                        help="make a new code even if the record has one")
    create.add_argument("--png", metavar="PATH", help="save the code's image here")
    create.add_argument("--account", metavar="gh_...",
                        help="the Official Account (default: WECHAT_ORIGINAL_ID's)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_create)

    listing = sub.add_parser("list", help="the codes in the registry, newest first")
    listing.add_argument("--record", help="only this record's codes")
    listing.add_argument("--account", metavar="gh_...", help="only this account's codes")
    listing.add_argument("--failed", action="store_true",
                         help="instead: the flagged records whose code could not be made")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    poll = sub.add_parser("poll", help="make the codes of records flagged in Salesforce")
    poll.add_argument("--json", action="store_true")
    poll.set_defaults(func=cmd_poll)
