"""A SOQL subset: a hand-written tokenizer and a recursive-descent parser (never eval).

Grammar (keywords and field names are case-insensitive)::

    query      := SELECT (COUNT '(' ')' | field (',' field)*) FROM name
                  [WHERE condition] [ORDER BY order (',' order)*] [LIMIT n] [OFFSET n]
    condition  := unary (AND unary)* | unary (OR unary)*     -- mixing needs parentheses
    unary      := NOT unary | '(' condition ')' | comparison
    comparison := field op literal | field [NOT] IN '(' literal (',' literal)* ')'
                | field LIKE string
    order      := field [ASC | DESC] [NULLS (FIRST | LAST)]
    literal    := 'string' | number | true | false | null | 2024-01-01 | 2024-01-01T00:00:00Z

Strings take the backslash escapes of ``simple_salesforce.format_soql``. Errors are
MALFORMED_QUERY in Salesforce's message layout (the line, a caret, the row and column).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.salesforce.errors import SalesforceError

ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'",
            "\\": "\\", "%": "%", "_": "_"}
_LEXEMES = [
    ("DATETIME", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?"
                            r"(?:Z|[+-]\d{2}:?\d{2})")),
    ("DATE", re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")),
    ("NUMBER", re.compile(r"[+-]?\d+(?:\.\d+)?(?![\w.])")),
    ("IDENT", re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")),
    ("OP", re.compile(r"!=|<>|<=|>=|=|<|>")),
    ("PUNCT", re.compile(r"[(),]")),
]
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
_CLAUSES = ("WHERE", "ORDER", "LIMIT", "OFFSET")


@dataclass(frozen=True)
class Token:
    kind: str  # STRING, DATETIME, DATE, NUMBER, IDENT, OP, PUNCT, EOF
    text: str  # the source text (for STRING: between the quotes, escapes intact)
    pos: int
    value: object = None

    def is_word(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.text.upper() in words


@dataclass(frozen=True)
class Name:
    """A field or object name as written, with its offset for error messages."""

    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # STRING, DATETIME, DATE, NUMBER, BOOLEAN, NULL
    value: object
    pos: int
    raw: str = ""  # STRING only: the escaped source, which LIKE needs to tell \% from %


@dataclass(frozen=True)
class Comparison:
    field: Name
    op: str  # one of COMPARISONS, or IN, NOT IN, LIKE
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND or OR
    operands: tuple[Condition, ...]


Condition = Comparison | Not | BoolOp


@dataclass(frozen=True)
class Order:
    field: Name
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    text: str
    sobject: Name
    fields: list[Name] = field(default_factory=list)  # empty for SELECT COUNT()
    count: bool = False
    where: Condition | None = None
    order: list[Order] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def query_error(text: str, pos: int, detail: str, code: str = "MALFORMED_QUERY") -> SalesforceError:
    """A 400 error whose message points at ``pos`` in ``text`` the way Salesforce does."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:] if end < 0 else text[start:end]
    row, column = text.count("\n", 0, pos) + 1, pos - start + 1
    return SalesforceError(code, f"\n{line.rstrip()}\n{' ' * (column - 1)}^\n"
                                 f"ERROR at Row:{row}:Column:{column}\n{detail}")


def tokenize(text: str) -> list[Token]:
    """Raises: SalesforceError MALFORMED_QUERY for a character or string it cannot read."""
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text[pos] == "'":
            token = _string(text, pos)
        else:
            token = None
            for kind, pattern in _LEXEMES:
                match = pattern.match(text, pos)
                if match:
                    token = Token(kind, match.group(), pos)
                    break
            if token is None:
                raise query_error(text, pos, f"unexpected token: '{text[pos]}'")
        tokens.append(token)
        pos = token.pos + len(token.text) + (2 if token.kind == "STRING" else 0)
    tokens.append(Token("EOF", "<EOF>", len(text)))
    return tokens


def _string(text: str, start: int) -> Token:
    chars, pos = [], start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == "'":
            return Token("STRING", text[start + 1:pos], start, "".join(chars))
        if ch == "\\":
            nxt = text[pos + 1:pos + 2]
            if nxt not in ESCAPES:
                raise query_error(text, start, f"Invalid string literal '{text[start:]}'. "
                                  f"Illegal character sequence '\\{nxt}' in string literal.")
            chars.append(ESCAPES[nxt])
            pos += 2
            continue
        chars.append(ch)
        pos += 1
    raise query_error(text, start, f"line 1:{start} mismatched character '<EOF>' expecting '''")


def parse(text: str) -> Query:
    """Parse one SOQL statement.

    Raises:
        SalesforceError: MALFORMED_QUERY (400).
    """
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | None = None) -> SalesforceError:
        token = token or self.tok
        shown = token.text if token.kind != "STRING" else f"'{token.text}'"
        return query_error(self.text, token.pos, f"unexpected token: '{shown}'")

    def expect_word(self, *words: str) -> Token:
        if not self.tok.is_word(*words):
            raise self.fail()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not (self.tok.kind == "PUNCT" and self.tok.text == char):
            raise self.fail()
        return self.advance()

    def accept_punct(self, char: str) -> bool:
        if self.tok.kind == "PUNCT" and self.tok.text == char:
            self.advance()
            return True
        return False

    def name(self) -> Name:
        if self.tok.kind != "IDENT" or self.tok.is_word("FROM", *_CLAUSES):
            raise self.fail()
        token = self.advance()
        return Name(token.text, token.pos)

    def integer(self) -> int:
        token = self.tok
        if token.kind != "NUMBER" or not token.text.isdigit():
            raise self.fail()
        self.advance()
        return int(token.text)

    def query(self) -> Query:
        self.expect_word("SELECT")
        fields, count = [], False
        if self.tok.is_word("COUNT") and self.tokens[self.i + 1].text == "(":
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.name())
            while self.accept_punct(","):
                fields.append(self.name())
        self.expect_word("FROM")
        query = Query(self.text, self.name(), fields, count)
        if self.tok.is_word("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.tok.is_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            query.order.append(self.order())
            while self.accept_punct(","):
                query.order.append(self.order())
        if self.tok.is_word("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.tok.is_word("OFFSET"):
            self.advance()
            query.offset = self.integer()
        if self.tok.kind != "EOF":
            raise self.fail()
        return query

    def order(self) -> Order:
        name = self.name()
        descending = False
        if self.tok.is_word("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending
        if self.tok.is_word("NULLS"):
            self.advance()
            nulls_first = self.expect_word("FIRST", "LAST").text.upper() == "FIRST"
        return Order(name, descending, nulls_first)

    def condition(self) -> Condition:
        first = self.unary()
        if not self.tok.is_word("AND", "OR"):
            return first
        op, operands = self.tok.text.upper(), [first]
        while self.tok.is_word("AND", "OR"):
            if self.tok.text.upper() != op:
                raise self.fail()  # SOQL needs parentheses to mix AND and OR
            self.advance()
            operands.append(self.unary())
        return BoolOp(op, tuple(operands))

    def unary(self) -> Condition:
        if self.tok.is_word("NOT"):
            self.advance()
            return Not(self.unary())
        if self.accept_punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        name = self.name()
        token = self.tok
        if token.kind == "OP":
            self.advance()
            return Comparison(name, "!=" if token.text == "<>" else token.text, self.literal())
        if token.is_word("LIKE"):
            self.advance()
            value = self.literal()
            if value.kind != "STRING":
                raise self.fail(self.tokens[self.i - 1])
            return Comparison(name, "LIKE", value)
        op = "IN"
        if token.is_word("NOT"):
            self.advance()
            op = "NOT IN"
        self.expect_word("IN")
        self.expect_punct("(")
        items = [self.literal()]
        while self.accept_punct(","):
            items.append(self.literal())
        self.expect_punct(")")
        return Comparison(name, op, tuple(items))

    def literal(self) -> Literal:
        token = self.tok
        if token.kind == "STRING":
            self.advance()
            return Literal("STRING", token.value, token.pos, token.text)
        if token.kind in ("NUMBER", "DATE", "DATETIME"):
            self.advance()
            return Literal(token.kind, token.text, token.pos)
        if token.is_word("TRUE", "FALSE"):
            self.advance()
            return Literal("BOOLEAN", token.text.upper() == "TRUE", token.pos)
        if token.is_word("NULL"):
            self.advance()
            return Literal("NULL", None, token.pos)
        raise self.fail()
