"""Keyword replies: read from Salesforce into Redis, and read back by the callback.

Keys (no TTL: the book changes only when it is loaded again):

- ``bridge:reply:keywords``: the whole :class:`~connector.replies.keyword_book.KeywordBook`
  as JSON (every account's rules: they are few, and a reload of all of them makes a
  changed order or a deleted rule right without bookkeeping);
- ``bridge:reply:keywords:version``: the digest of that JSON, written with it in one
  transaction.

The callback (:class:`KeywordReader`) reads the version, one small GET per push, and the
book itself only when the version differs from the one it compiled last, so a push costs
one round trip and no pattern is compiled twice in a process.

Loading from Salesforce is :mod:`connector.replies.keyword_records` (the web app, which
reads here, never reaches the worker's context).
"""

from __future__ import annotations

import hashlib

from redis import Redis

from connector.replies.keyword_book import KeywordBook

KEY = "bridge:reply:keywords"
VERSION = KEY + ":version"


def store_book(redis: Redis, book: KeywordBook) -> str:
    """Cache ``book``; its version."""
    text = book.to_json()
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    pipe = redis.pipeline(transaction=True)
    pipe.set(KEY, text)
    pipe.set(VERSION, version)
    pipe.execute()
    return version


def cached_book(redis: Redis) -> KeywordBook | None:
    """The cached book, or None when nothing is cached.

    Raises: ValueError: a corrupt cached value."""
    text = redis.get(KEY)
    return None if text is None else KeywordBook.from_json(text)


class KeywordReader:
    """The callback's view of the cache: the book, compiled once per version."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._version: bytes | None = None
        self._book: KeywordBook | None = None

    def book(self) -> KeywordBook | None:
        """The current book (None: not cached). One GET when it is unchanged.

        Raises: RedisError; ValueError: a corrupt cached value."""
        version = self.redis.get(VERSION)
        if version is None:
            return None
        if version != self._version:
            book = cached_book(self.redis)
            # a reload between the two GETs is harmless: the next push reads it again
            self._book, self._version = book, version
        return self._book
