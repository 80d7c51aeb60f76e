"""Cutting a sequence into the pieces an API takes at once (200 records per sObject
Collections call, 100 OpenIDs per ``batchget``, 50 per tagging call...).

``itertools.batched`` does this from Python 3.12; the bridge runs on 3.11.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
