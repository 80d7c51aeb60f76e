"""The keyword replies of every account, read from ``WeChat_Keyword_Reply__c`` records.
Pure.

A record is a keyword rule (``Match__c`` exact, contains or pattern), the welcome reply
to a follow that names no campaign (``welcome``) or the "message received" reply to a
text no rule matches (``default``); ``Account_Id__c`` blank: for every account.
:func:`book_from_records` checks each record and keeps the usable ones; the others are
listed as problems naming the record and the fix (and answer nothing). A
:class:`KeywordBook` answers: :meth:`KeywordBook.answer` (which rule, or the default,
answers a text for an account) and :meth:`KeywordBook.welcome`. It round-trips through
JSON (:meth:`KeywordBook.to_json` / :meth:`KeywordBook.from_json`) for the Redis cache
(``connector/replies/keyword_cache.py``); the patterns are compiled once per process per
version, when the callback first reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.replies.keywords import KeywordError, KeywordRule, find_rule, sort_rules
from connector.replies.model import Article, Reply, clean, cut_text
from mappings.reply_section import KEYWORD_FIELDS, KEYWORD_OBJECT

OBJECT, FIELDS = KEYWORD_OBJECT, KEYWORD_FIELDS
SPECIAL = ("welcome", "default")


@dataclass(frozen=True)
class Special:
    """A welcome or default reply: ``name`` (the record), ``order``, ``account``."""

    name: str
    order: float
    reply: Reply
    account: str | None = None


@dataclass(frozen=True)
class Answer:
    """What answers a text: ``rule`` (None for the default), ``reply``."""

    reply: Reply
    rule: KeywordRule | None = None
    default: Special | None = None


def _reply(record: dict[str, Any]) -> Reply | None:
    title = clean(record.get("Article_Title__c"))
    if title:
        return Reply(article=Article(title, clean(record.get("Article_Description__c")),
                                     clean(record.get("Article_Picture_Url__c")),
                                     clean(record.get("Article_Url__c"))))
    text = clean(record.get("Reply_Text__c"))
    return Reply(text=cut_text(text)) if text else None


def _order(record: dict[str, Any]) -> float:
    value = record.get("Order__c")
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass
class KeywordBook:
    """Every account's rules (sorted), welcome and default replies, and the records
    that were left out (``problems``: one message each)."""

    rules: list[KeywordRule] = field(default_factory=list)
    specials: dict[str, list[Special]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def rules_for(self, account: str | None) -> list[KeywordRule]:
        """The rules that answer ``account``'s followers, in the order they are tried
        (the account's own and those for every account, merged by order)."""
        return [r for r in self.rules if r.account in (None, account)]

    def _special(self, kind: str, account: str | None) -> Special | None:
        # the account's own wins over one for every account; then the lowest order
        found = [s for s in self.specials.get(kind, []) if s.account in (None, account)]
        found.sort(key=lambda s: (s.account is None, s.order, s.name))
        return found[0] if found else None

    def answer(self, account: str | None, text: str | None) -> Answer | None:
        """The rule answering ``text`` for ``account``, else its default reply; None
        when neither exists."""
        rule = find_rule(self.rules_for(account), text)
        if rule is not None:
            return Answer(rule.reply, rule=rule)
        default = self._special("default", account)
        return Answer(default.reply, default=default) if default is not None else None

    def welcome(self, account: str | None) -> Special | None:
        """The welcome reply of ``account`` (its own, else one for every account)."""
        return self._special("welcome", account)

    # -- JSON, for the cache ---------------------------------------------------------

    def to_json(self) -> str:
        def reply(r: Reply) -> Any:
            return json.loads(r.to_json())
        data = {
            "rules": [{"name": r.name, "match": r.match, "keyword": r.keyword,
                       "order": r.order, "account": r.account, "reply": reply(r.reply)}
                      for r in self.rules],
            "specials": [{"kind": k, "name": s.name, "order": s.order,
                          "account": s.account, "reply": reply(s.reply)}
                         for k, found in sorted(self.specials.items()) for s in found],
            "problems": self.problems,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> KeywordBook:
        """Raises: ValueError: not a cached book (a rule that no longer compiles is a
        KeywordError, a ValueError too)."""
        try:
            data = json.loads(text)
            book = cls(problems=list(data.get("problems", [])))
            book.rules = [KeywordRule(r["name"], r["match"], r["keyword"], r["order"],
                                      Reply.from_json(json.dumps(r["reply"])), r["account"])
                          for r in data["rules"]]
            for s in data["specials"]:
                book.specials.setdefault(s["kind"], []).append(
                    Special(s["name"], s["order"], Reply.from_json(json.dumps(s["reply"])),
                            s["account"]))
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a cached keyword book: {exc}") from None
        return book


def book_from_records(records: Iterable[dict[str, Any]]) -> KeywordBook:
    """The book of ``WeChat_Keyword_Reply__c`` records (:data:`FIELDS`); inactive and
    deleted records are left out silently, unusable ones with a problem each."""
    book = KeywordBook()
    rules: list[KeywordRule] = []
    for record in records:
        if record.get("IsDeleted") or record.get("Active__c") is False:
            continue
        name = str(record.get("Name") or record.get("Id") or "?")
        match = (record.get("Match__c") or "").strip()
        account = (record.get("Account_Id__c") or "").strip() or None
        reply = _reply(record)
        if not match:
            book.problems.append(f"keyword rule {name}: Match__c is blank — choose exact, "
                                 "contains, pattern, welcome or default")
            continue
        if reply is None:
            book.problems.append(f"keyword rule {name}: no reply — fill Reply_Text__c, or "
                                 "Article_Title__c for an article")
            continue
        if match in SPECIAL:
            book.specials.setdefault(match, []).append(
                Special(name, _order(record), reply, account))
            continue
        try:
            rules.append(KeywordRule(name, match, str(record.get("Keyword__c") or ""),
                                     _order(record), reply, account))
        except KeywordError as error:
            book.problems.append(str(error))
    book.rules = sort_rules(rules)
    return book
