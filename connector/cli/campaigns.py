"""``connector campaigns stats ID``: a campaign's scans, scanners, new followers and
members, per channel code."""

from __future__ import annotations

import argparse
import json
import sys

from connector.errors import BridgeError


def campaign_id(value: str) -> str:
    """``value`` when it is a Campaign Id, else a usage error naming the expected form."""
    from connector.ids import id18, is_campaign_id

    if not is_campaign_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Campaign Id: expected 15 or 18 letters and digits "
            "starting with 701 (e.g. 7015g00000AbCdE; Salesforce shows it in the "
            "campaign's URL)")
    try:
        id18(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def cmd_stats(args: argparse.Namespace) -> int:
    from connector.inbound.stats import campaign_stats
    from connector.qr.funnel import campaign_funnel
    from jobs.runtime import build_context

    ctx = build_context()
    try:
        funnel = campaign_funnel(ctx.salesforce, ctx.mapping, args.campaign)
        stats = campaign_stats(ctx.salesforce, ctx.redis, ctx.mapping, args.campaign)
    except BridgeError as error:
        print(f"connector campaigns stats: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**stats.to_json(), "funnel": funnel.to_json()}, indent=2))
    else:
        print(stats.table() + "\n\n" + funnel.table())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    campaigns = sub.add_parser("campaigns", help="campaign figures")
    csub = campaigns.add_subparsers(dest="campaigns_command", required=True)
    stats = csub.add_parser(
        "stats", help="scans, unique scanners, new followers and members per channel code",
        description="Scans (follows through a code included), unique scanners and new "
        "followers (someone who unfollowed and came back through a code counts again) are "
        "counted by the worker, each push once; members are the campaign's "
        "CampaignMembers, per the channel of their first touch. "
        "Then the funnel, from Salesforce's records: scanners (members), new followers, "
        "the members' followers at each lifecycle stage or a later one, and those who unfollowed.")
    stats.add_argument("campaign", type=campaign_id,
                       help="the Campaign Id (701..., 15 or 18 characters)")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_stats)
