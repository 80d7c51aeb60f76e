"""connector.chunks: the pieces an API takes at once."""

from __future__ import annotations

import pytest

from connector.chunks import chunks


def test_items_come_in_order_a_size_at_a_time():
    assert list(chunks(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks("abcd", 2)) == [["a", "b"], ["c", "d"]]
    assert list(chunks([], 200)) == []


def test_a_chunk_holds_at_least_one_item():
    with pytest.raises(ValueError, match="at least 1"):
        list(chunks([1], 0))
