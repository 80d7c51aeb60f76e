"""Serve an ASGI app (an emulator) over real HTTP(S) from a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from sandbox.faults import RESET_EXTENSION, abort_transport
from sandbox.tls import SandboxTLS


@dataclass
class RunningServer:
    """A server started by :func:`serve`; ``url`` has no trailing slash."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Stop at once: clients' idle keep-alive connections are not waited for."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def with_reset(app):
    """``app`` with a way to reset its connection: the ASGI scope extension
    ``sandbox.reset`` (used by the ``reset`` faults of :mod:`sandbox.faults`).

    uvicorn hands the app its cycle's bound ``send``, which holds the connection's
    transport; when it does not (another server), the extension is left out.
    """

    async def wrapped(scope, receive, send):
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if scope["type"] == "http" and transport is not None:
            extensions = scope.setdefault("extensions", {})
            extensions[RESET_EXTENSION] = lambda: abort_transport(transport)
        await app(scope, receive, send)

    return wrapped


def serve(app, *, tls: SandboxTLS | None = None, host: str = "127.0.0.1", port: int = 0,
          log_level: str = "warning") -> RunningServer:
    """Start ``app`` on ``host:port`` (0 picks a free port) and wait until it accepts.

    With ``tls``, the server speaks HTTPS with the sandbox certificate.
    """
    port = port or free_port(host)
    config = uvicorn.Config(
        with_reset(app),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve()), name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox server on port {port} did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    return RunningServer(url=f"{scheme}://{host}:{port}", server=server, thread=thread)
