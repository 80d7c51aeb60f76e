"""Keyword rules: which rule answers a follower's text. Pure (no Redis, no I/O).

The interface is two names (the follow-ups reuse it for their ``keyword`` trigger):

- :class:`KeywordRule` ``(name, match, keyword, order=0, reply=None, account=None)``:
  one rule; building it checks it and raises :class:`KeywordError` naming the rule
  (a blank keyword, an unknown match kind, a pattern that is not valid RE2 or is too
  long). ``reply`` is whatever the caller attaches (a :class:`~connector.replies.model.
  Reply` for keyword replies); the matcher never reads it.
- :func:`find_rule` ``(rules, text) -> KeywordRule | None``: the first rule, by
  ``(order, name)``, that matches ``text``.

Match kinds: ``exact`` (the whole text is the keyword) and ``contains`` (the text holds
it) compare casefolded texts with surrounding spaces trimmed (a follower typing
"Price " or "PRICE" means "price"); ``pattern`` is a regular expression searched in the
trimmed text (anchor it with ``^...$`` for a whole text; ``(?i)`` ignores case).

Patterns are compiled by RE2 (google-re2), which matches in time linear in the text: no
pattern, however written, can backtrack catastrophically on the callback's hot path
(``(a+)+b`` is as cheap as ``ab``). RE2 refuses what needs backtracking (back-references,
look-arounds) when the rule is built, with the rule's name. Bounds: a pattern of at most
:data:`PATTERN_MAX_CHARS` characters compiled within :data:`PATTERN_MAX_MEMORY` bytes,
and texts cut to :data:`TEXT_MAX_CHARS` characters before matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import re2

MATCH_KINDS = ("exact", "contains", "pattern")
PATTERN_MAX_CHARS = 200
PATTERN_MAX_MEMORY = 1 << 20  # RE2's program budget: a pattern that needs more is refused
# WeChat caps a text message at 2048 bytes; no keyword needs more than its first
# characters, and the cap keeps a hostile text's cost fixed whatever WeChat allows.
TEXT_MAX_CHARS = 2048

_OPTIONS = re2.Options()
_OPTIONS.max_mem = PATTERN_MAX_MEMORY
_OPTIONS.log_errors = False  # RE2 would print each refused pattern on stderr


class KeywordError(ValueError):
    """A rule that cannot be used; the message names the rule and the fix."""


def _normal(text: str) -> str:
    return text.strip().casefold()


@dataclass(frozen=True)
class KeywordRule:
    """One keyword rule (see the module). ``name`` identifies it in messages (a record's
    number, e.g. ``KR-0003``); ``order``: lower first; ``account``: the Official
    Account's original id it answers for, None for every account.

    Raises:
        KeywordError: the rule cannot match (the message names it).
    """

    name: str
    match: str
    keyword: str
    order: float = 0
    reply: Any = field(default=None, compare=False)
    account: str | None = None
    _test: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", self._compile())

    def _compile(self) -> Any:
        where = f"keyword rule {self.name}"
        if self.match not in MATCH_KINDS:
            raise KeywordError(f"{where}: match {self.match!r} is not one of "
                               f"{', '.join(MATCH_KINDS)}")
        if not (self.keyword or "").strip():
            raise KeywordError(f"{where}: the keyword is blank — write the word or "
                               "pattern the rule answers")
        if self.match == "exact":
            word = _normal(self.keyword)
            return lambda text: text == word
        if self.match == "contains":
            word = _normal(self.keyword)
            return lambda text: word in text
        if len(self.keyword) > PATTERN_MAX_CHARS:
            raise KeywordError(f"{where}: the pattern is {len(self.keyword)} characters; "
                               f"at most {PATTERN_MAX_CHARS} — shorten it")
        try:
            compiled = re2.compile(self.keyword, _OPTIONS)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise KeywordError(
                f"{where}: the pattern {self.keyword!r} is refused: {detail} — write it "
                "in RE2 syntax (no back-references or look-arounds; "
                "https://github.com/google/re2/wiki/Syntax)") from None
        return lambda text: compiled.search(text) is not None

    def matches(self, text: str) -> bool:
        """True when the rule answers ``text``."""
        return self._matches(_Prepared(text))

    def _matches(self, text: _Prepared) -> bool:
        return bool(self._test(text.trimmed if self.match == "pattern" else text.normal))


class _Prepared:
    """A text cut, trimmed and casefolded once for every rule tried on it."""

    __slots__ = ("normal", "trimmed")

    def __init__(self, text: str) -> None:
        self.trimmed = text[:TEXT_MAX_CHARS].strip()
        self.normal = self.trimmed.casefold()


def sort_rules(rules: Iterable[KeywordRule]) -> list[KeywordRule]:
    """``rules`` in the order they are tried: by ``order``, then ``name``."""
    return sorted(rules, key=lambda r: (r.order, r.name))


def find_rule(rules: Iterable[KeywordRule], text: str | None) -> KeywordRule | None:
    """The first of ``rules`` (by ``(order, name)``) that matches ``text``; None when
    none does (or the text is blank). ``rules`` need not be sorted."""
    if not text or not text.strip():
        return None
    prepared = _Prepared(text)
    return next((r for r in sort_rules(rules) if r._matches(prepared)), None)
