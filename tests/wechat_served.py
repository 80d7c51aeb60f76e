"""The WeChat emulator served over HTTPS for one test, its CA trusted by ``requests``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.server import serve
from sandbox.wechat import WeChatSandbox


@contextmanager
def served_wechat(sandbox_tls: Any, monkeypatch: Any, **options: Any) -> Iterator[WeChatSandbox]:
    """A :class:`WeChatSandbox` made with ``options``, listening until the block ends;
    its ``url`` is set. ``sandbox_tls`` and ``monkeypatch``: the tests' fixtures."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox_tls.bundle_file))
    ws = WeChatSandbox(**options)
    server = serve(ws.app, tls=sandbox_tls)
    ws.url = server.url
    try:
        yield ws
    finally:
        server.stop()
