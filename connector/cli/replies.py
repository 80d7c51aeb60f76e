"""``connector replies``: the campaign auto-reply cache.

    connector replies refresh [--campaign ID ...]   reload the cache from Salesforce
    connector replies show CAMPAIGN_ID              what a scan of the campaign gets now
"""

from __future__ import annotations

import argparse
import sys

from connector.errors import BridgeError
from connector.ids import short_id


def cmd_refresh(args: argparse.Namespace) -> int:
    from connector.replies.campaigns import load_replies, refresh_all
    from jobs.runtime import build_context

    ctx = build_context()
    if not ctx.mapping.replies.campaign_replies:
        print(f"{ctx.settings.MAPPING_FILE}: replies: names no Campaign field (text or "
              "article): there is nothing to cache")
        return 0
    try:
        if args.campaign:
            replies = load_replies(ctx, args.campaign)
            for campaign_id, reply in sorted(replies.items()):
                print(f"{campaign_id}: {reply.kind if reply else 'no reply'}")
            print(f"refreshed {len(replies)} campaign(s)")
        else:
            print(f"refreshed {refresh_all(ctx)} campaign(s)")
    except BridgeError as error:
        print(f"connector: cannot read the campaigns from Salesforce: {error}",
              file=sys.stderr)
        return 2
    finally:
        ctx.salesforce.close()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from connector.redis_connection import connect
    from connector.replies.cache import NO_CAMPAIGN, NO_REPLY, ReplyCache
    from connector.replies.model import Reply
    from connector.settings import get_settings

    settings = get_settings()
    cache = ReplyCache(connect(settings.redis_url))
    campaign_id = short_id(args.campaign_id)
    raw = cache.campaigns([campaign_id])[campaign_id]
    if raw is None:
        print(f"{campaign_id}: not cached — the next scan is answered by a customer-service "
              f"message; `connector replies refresh --campaign {campaign_id}` caches it")
        return 1
    left = f"(cached, {cache.ttl(campaign_id)} s left)"
    if raw == NO_CAMPAIGN:
        print(f"{campaign_id}: no such Campaign in Salesforce {left}")
    elif raw == NO_REPLY:
        print(f"{campaign_id}: no reply: its reply fields are blank {left}")
    else:
        reply = Reply.from_json(raw)
        print(f"{campaign_id}: {reply.kind} reply {left}")
        if reply.text is not None:
            print(reply.text)
        else:
            a = reply.article
            for name, value in (("title", a.title), ("description", a.description),
                                ("picture", a.picture_url), ("link", a.url)):
                print(f"  {name}: {value}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    replies = subparsers.add_parser("replies", help="the campaign auto-reply cache")
    rsub = replies.add_subparsers(dest="replies_command", required=True)
    refresh = rsub.add_parser(
        "refresh", help="reload campaign replies from Salesforce into the cache",
        description="Read the reply fields of every Campaign (or of --campaign ones) "
        "and cache them; scans are then answered at once, without an API call.")
    refresh.add_argument("--campaign", action="append", metavar="ID",
                         help="a Campaign Id (repeat for several); default: every Campaign")
    refresh.set_defaults(func=cmd_refresh)
    show = rsub.add_parser("show", help="the cached reply of one campaign")
    show.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    show.set_defaults(func=cmd_show)
