"""Cutting a sequence into the pieces an API takes at once (200 records per sObject
Collections call, 100 OpenIDs per ``batchget``, 50 per tagging call...).

``itertools.batched`` does this from Python 3.12; the bridge runs on 3.11.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in order, ``size`` at a time (the last piece may be shorter).

    Raises:
        ValueError: ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"a chunk holds at least 1 item, not {size}")
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def chunks_apart(items: Sequence[T], size: int,
                 key: Callable[[T], Hashable | None]) -> list[list[int]]:
    """The positions of ``items`` in pieces of at most ``size``, no two items of a piece
    sharing a key (None shares nothing). An item whose key an earlier piece holds goes to
    a later piece than that one, so items of one key keep their order; without repeated
    keys the pieces are those of :func:`chunks`. (Salesforce refuses every record of an
    upsert call whose key the call carries twice.)

    Raises:
        ValueError: ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"a chunk holds at least 1 item, not {size}")
    pieces: list[list[int]] = []
    last: dict[Hashable, int] = {}  # key -> the piece holding its latest item
    first_open = 0  # pieces before it are full
    for position, item in enumerate(items):
        k = key(item)
        piece = max(first_open, last[k] + 1) if k is not None and k in last else first_open
        while piece < len(pieces) and len(pieces[piece]) >= size:
            piece += 1
        if piece == len(pieces):
            pieces.append([])
        pieces[piece].append(position)
        if k is not None:
            last[k] = piece
        while first_open < len(pieces) and len(pieces[first_open]) >= size:
            first_open += 1
    return pieces
