"""Keyword replies read from Salesforce into the cache (:mod:`.keyword_cache`).

:func:`load_keywords` (one query of every record) runs when records change (the
``keyword_replies`` watch in ``connector/wayback/watches.py``: the poll or an Outbound
Message), from ``connector replies refresh``, and on the clock's tick when the cache is
missing (:func:`load_if_missing`: a new deployment, or a Redis that lost its data).

Raises (:func:`load_keywords`): RetriableError, FatalError from the gateway.
"""

from __future__ import annotations

import logging

from connector.context import WorkerContext
from connector.replies.keyword_book import FIELDS, OBJECT, KeywordBook, book_from_records
from connector.replies.keyword_cache import VERSION, store_book

log = logging.getLogger(__name__)

EVERY = "SELECT Id, {:literal} FROM {:literal}"


def load_keywords(ctx: WorkerContext) -> KeywordBook:
    """Read every keyword reply record from Salesforce (one query) and cache the book;
    unusable records are logged, each with its problem."""
    rows = ctx.salesforce.query(EVERY, ", ".join(f for f in FIELDS if f != "Id"), OBJECT)
    book = book_from_records(rows)
    store_book(ctx.redis, book)
    for problem in book.problems:
        log.warning("%s", problem)
    log.info("cached %d keyword rule(s) from %d %s record(s)", len(book.rules), len(rows),
             OBJECT)
    return book


def load_if_missing(ctx: WorkerContext) -> bool:
    """Load the keyword replies when the mapping asks for them and none are cached;
    True when it loaded."""
    if not ctx.mapping.replies.keywords or ctx.redis.exists(VERSION):
        return False
    load_keywords(ctx)
    return True
