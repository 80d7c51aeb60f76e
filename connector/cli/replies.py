"""``connector replies``: the auto-reply caches (campaigns, keyword replies).

    connector replies refresh [--campaign ID ...]   reload the caches from Salesforce
    connector replies show CAMPAIGN_ID              what a scan of the campaign gets now
    connector replies show --text TEXT [--account gh_...]
                                                    which keyword rule answers a text
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from connector.errors import BridgeError
from connector.ids import short_id

if TYPE_CHECKING:
    from connector.replies.model import Reply


def cmd_refresh(args: argparse.Namespace) -> int:
    from connector.replies.campaigns import load_replies, refresh_all
    from jobs.runtime import build_context

    ctx = build_context()
    keywords = ctx.mapping.replies.keywords and not args.campaign
    if not ctx.mapping.replies.campaign_replies and not keywords:
        print(f"{ctx.settings.MAPPING_FILE}: replies: names no Campaign field (text or "
              "article) and no keywords: there is nothing to cache")
        return 0
    try:
        if keywords:
            from connector.replies.keyword_records import load_keywords

            book = load_keywords(ctx)
            for problem in book.problems:
                print(f"left out: {problem}")
            print(f"refreshed {len(book.rules)} keyword rule(s)")
        if args.campaign:
            replies = load_replies(ctx, args.campaign)
            for campaign_id, reply in sorted(replies.items()):
                print(f"{campaign_id}: {reply.kind if reply else 'no reply'}")
            print(f"refreshed {len(replies)} campaign(s)")
        elif ctx.mapping.replies.campaign_replies:
            print(f"refreshed {refresh_all(ctx)} campaign(s)")
    except BridgeError as error:
        print(f"connector: cannot read the replies from Salesforce: {error}",
              file=sys.stderr)
        return 2
    finally:
        ctx.salesforce.close()
    return 0


def _print_reply(reply: Reply) -> None:
    if reply.text is not None:
        print(reply.text)
    else:
        a = reply.article
        for name, value in (("title", a.title), ("description", a.description),
                            ("picture", a.picture_url), ("link", a.url)):
            print(f"  {name}: {value}")


def show_text(text: str, account: str | None) -> int:
    """Which keyword rule (or the default) answers ``text`` for ``account``, from the
    cache the callback reads."""
    from connector.redis_connection import connect
    from connector.replies.keyword_cache import cached_book
    from connector.settings import get_settings

    settings = get_settings()
    if account is None:
        account = settings.wechat_accounts()[0].original_id
    book = cached_book(connect(settings.redis_url))
    if book is None:
        print("no keyword replies are cached: `connector replies refresh` reads them from "
              "Salesforce (the clock reads them on its next tick)")
        return 1
    for problem in book.problems:
        print(f"left out: {problem}")
    answer = book.answer(account, text)
    if answer is None:
        print(f"{text!r}: no rule matches and {account or 'the account'} has no default "
              "reply: the follower gets no answer")
        return 0
    if answer.rule is not None:
        r = answer.rule
        print(f"{text!r}: rule {r.name} (order {r.order:g}, {r.match} {r.keyword!r}, "
              f"{'account ' + r.account if r.account else 'every account'}) answers with "
              f"a {answer.reply.kind}:")
    else:
        d = answer.default
        assert d is not None
        print(f"{text!r}: no rule matches; the default reply {d.name} (order {d.order:g}, "
              f"{'account ' + d.account if d.account else 'every account'}) answers with "
              f"a {answer.reply.kind}:")
    _print_reply(answer.reply)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.text is not None:
        return show_text(args.text, args.account)
    if args.campaign_id is None:
        print("connector replies show: give a CAMPAIGN_ID or --text TEXT", file=sys.stderr)
        return 2
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
        _print_reply(reply)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    replies = subparsers.add_parser("replies", help="the auto-reply caches")
    rsub = replies.add_subparsers(dest="replies_command", required=True)
    refresh = rsub.add_parser(
        "refresh", help="reload campaign and keyword replies from Salesforce",
        description="Read the reply fields of every Campaign (or of --campaign ones) "
        "and, with replies: keywords, every keyword reply record, and cache them; "
        "scans and texts are then answered at once, without an API call.")
    refresh.add_argument("--campaign", action="append", metavar="ID",
                         help="a Campaign Id (repeat for several); default: every Campaign")
    refresh.set_defaults(func=cmd_refresh)
    show = rsub.add_parser(
        "show", help="the cached reply of one campaign, or which rule answers a text",
        description="CAMPAIGN_ID: what a scan of the campaign gets now. --text: which "
        "keyword rule answers the text (its order, match kind and reply), or the default.")
    show.add_argument("campaign_id", metavar="CAMPAIGN_ID", nargs="?")
    show.add_argument("--text", help="a follower's text message")
    show.add_argument("--account", metavar="ORIGINAL_ID",
                      help="the Official Account (gh_...); default: the primary")
    show.set_defaults(func=cmd_show)
