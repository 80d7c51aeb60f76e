"""The keyword matcher (connector/replies/keywords.py) and the book of keyword reply
records (connector/replies/keyword_book.py): kinds, order, bad patterns refused with the
rule's name, per-account rules, welcome and default replies, the cache's JSON."""

from __future__ import annotations

import pytest

from connector.replies.keyword_book import KeywordBook, book_from_records
from connector.replies.keywords import (
    PATTERN_MAX_CHARS,
    KeywordError,
    KeywordRule,
    find_rule,
)
from connector.replies.model import Reply


def rule(name, match, keyword, order=0, account=None):
    return KeywordRule(name, match, keyword, order, Reply(text=f"answer {name}"), account)


@pytest.mark.parametrize(("match", "keyword", "text", "expected"), [
    ("exact", "price", "price", True),
    ("exact", "price", "  PRICE ", True),           # case and spaces do not count
    ("exact", "price", "the price", False),
    ("exact", "价格", "价格", True),
    ("contains", "price", "What is the PRICE?", True),
    ("contains", "价格", "请问价格多少", True),
    ("contains", "price", "prize", False),
    ("pattern", r"^order\s*#?\d{4,}$", "order #12345", True),
    ("pattern", r"^order\s*#?\d{4,}$", "my order 12", False),
    ("pattern", r"(?i)store|shop", "Where is the SHOP", True),
    ("pattern", r"store", "STORE", False),            # a pattern is case-sensitive...
    ("pattern", r"^hours$", "  hours  ", True),       # ...but trimmed like the others
])
def test_each_match_kind(match, keyword, text, expected):
    assert rule("KR-1", match, keyword).matches(text) is expected


def test_the_lowest_order_wins_then_the_name():
    rules = [rule("KR-3", "contains", "price", order=20),
             rule("KR-2", "exact", "price list", order=10),
             rule("KR-1", "contains", "list", order=10)]
    assert find_rule(rules, "price list").name == "KR-1"   # order 10, name first
    assert find_rule(rules, "the price").name == "KR-3"
    assert find_rule(rules, "hello") is None
    assert find_rule(rules, "   ") is None
    assert find_rule(rules, None) is None


@pytest.mark.parametrize(("match", "keyword", "message"), [
    ("pattern", r"(a)\1", "invalid escape sequence"),                    # back-reference
    ("pattern", r"(?=a)b", "KR-7: the pattern"),                          # look-ahead
    ("pattern", r"([a-z]+", "missing )"),
    ("pattern", "a" * (PATTERN_MAX_CHARS + 1), f"at most {PATTERN_MAX_CHARS}"),
    ("pattern", r"(a{1000}){1000}", "KR-7: the pattern"),  # past RE2's memory budget
    ("exact", "   ", "KR-7: the keyword is blank"),
    ("fuzzy", "price", "KR-7: match 'fuzzy' is not one of exact, contains, pattern"),
])
def test_bad_rules_are_refused_naming_the_rule(match, keyword, message):
    with pytest.raises(KeywordError, match="keyword rule KR-7") as caught:
        rule("KR-7", match, keyword)
    assert message in str(caught.value)


def test_a_catastrophic_pattern_matches_in_linear_time():
    # (a+)+b backtracks exponentially in Python's re; RE2 answers at once
    bad = rule("KR-9", "pattern", r"^(a+)+b$")
    assert bad.matches("a" * 2000 + "c") is False
    assert bad.matches("a" * 30 + "b") is True


def record(name, match, keyword=None, order=None, account=None, **fields):
    return {"Id": f"a0K{name}", "Name": name, "Match__c": match, "Keyword__c": keyword,
            "Order__c": order, "Account_Id__c": account, "Active__c": True,
            "Reply_Text__c": fields.pop("text", f"answer {name}"), **fields}


def test_the_book_answers_per_account_with_the_default_and_the_welcome():
    book = book_from_records([
        record("KR-0001", "exact", "price", 10),
        record("KR-0002", "contains", "price", 5, account="gh_b"),
        record("KR-0003", "default", text="Got it, we'll answer soon."),
        record("KR-0004", "default", account="gh_b", text="B received it"),
        record("KR-0005", "welcome", text="Welcome to A and B"),
        record("KR-0006", "welcome", account="gh_b", order=3, text="Welcome to B"),
        record("KR-0007", "exact", "off", Active__c=False),
        record("KR-0008", "exact", "gone", IsDeleted=True),
    ])
    assert book.problems == []
    a, b = book.answer("gh_a", "price"), book.answer("gh_b", "price")
    assert (a.rule.name, a.reply.text) == ("KR-0001", "answer KR-0001")
    assert b.rule.name == "KR-0002"  # B's own rule, of a lower order
    assert book.answer("gh_a", "hello").reply.text == "Got it, we'll answer soon."
    assert book.answer("gh_b", "hello").reply.text == "B received it"
    assert book.answer("gh_a", "off").default.name == "KR-0003"  # inactive: no rule
    assert book.welcome("gh_a").reply.text == "Welcome to A and B"
    assert book.welcome("gh_b").reply.text == "Welcome to B"
    # the cache's JSON gives the same book
    again = KeywordBook.from_json(book.to_json())
    assert [r.name for r in again.rules] == [r.name for r in book.rules]
    assert again.answer("gh_b", "a price?").reply == b.reply
    assert again.welcome("gh_b") == book.welcome("gh_b")


def test_unusable_records_are_left_out_with_a_problem_naming_them():
    book = book_from_records([
        record("KR-0001", "pattern", r"(x)\1"),
        record("KR-0002", None),
        record("KR-0003", "exact", "hi", text=""),
        record("KR-0004", "exact", "hi", text="", Article_Title__c="Our shop",
               Article_Url__c="https://example.com/shop"),
    ])
    assert [p.split(":")[0] for p in book.problems] == [
        "keyword rule KR-0001", "keyword rule KR-0002", "keyword rule KR-0003"]
    assert "Match__c is blank" in book.problems[1]
    assert "fill Reply_Text__c" in book.problems[2]
    answer = book.answer(None, "HI")
    assert answer.rule.name == "KR-0004" and answer.reply.article.title == "Our shop"


def test_the_callback_s_reader_compiles_a_book_once_per_version(redis_conn):
    from connector.replies.keyword_cache import KeywordReader, store_book

    reader = KeywordReader(redis_conn)
    assert reader.book() is None  # nothing cached: no reply, no error
    store_book(redis_conn, book_from_records([record("KR-0001", "exact", "hi")]))
    first = reader.book()
    assert first is reader.book()  # unchanged version: the compiled book is reused
    store_book(redis_conn, book_from_records([record("KR-0002", "exact", "hi")]))
    assert reader.book().answer(None, "hi").rule.name == "KR-0002"
