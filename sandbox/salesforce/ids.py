"""Salesforce record ids: key prefixes, the case-safe checksum, 15 → 18 normalisation.

A 15-character id is case-sensitive; Salesforce appends three characters that encode
which of its letters are upper case, so the 18-character form survives case-insensitive
systems. Both forms are accepted wherever Salesforce accepts them; the sandbox always
answers with the 18-character form.
"""

from __future__ import annotations

import itertools
import random
import string
import threading

_CHECKSUM_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_CHARS = frozenset(string.ascii_letters + string.digits)


def checksum(id15: str) -> str:
    """The three-character suffix that makes ``id15`` case-safe."""
    suffix = []
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if ch.isupper())
        suffix.append(_CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def normalize(value: object) -> str | None:
    """The 18-character form of a well-formed 15- or 18-character id, else None.

    An 18-character id whose suffix disagrees with its first 15 characters is malformed,
    as it is for Salesforce.
    """
    if not isinstance(value, str) or len(value) not in (15, 18) or set(value) - _ID_CHARS:
        return None
    full = value[:15] + checksum(value[:15])
    if len(value) == 18 and value[15:].upper() != full[15:]:
        return None
    return full


class IdFactory:
    """Mints realistic, unique 18-character ids for key prefixes (thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        start = random.Random(seed).randrange(62**6, 62**7)
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        digits = []
        for _ in range(9):
            number, rest = divmod(number, 62)
            digits.append(_BASE62[rest])
        # prefix + pod "5g" + reserved "0" + a 9-character base-62 counter, like real ids.
        id15 = f"{prefix}5g0{''.join(reversed(digits))}"
        return id15 + checksum(id15)
