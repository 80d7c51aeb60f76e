"""Whatever wrote them (a hand, the live suite's recorder), cassettes hold no secret."""

from __future__ import annotations

import pytest

from tests.contract.conftest import CASSETTES, SECRET_PATTERN

FILES = sorted(CASSETTES.rglob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CASSETTES)) for p in FILES])
def test_no_secret_in(path):
    assert not SECRET_PATTERN.search(path.read_text(encoding="utf-8"))
