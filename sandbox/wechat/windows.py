"""WeChat's customer-service windows, as the API emulator enforces them.

A follower opens a window by acting: a **message** (text, image...) allows 5
customer-service messages within 48 hours; a **follow, scan or menu click** allows 3
within 1 minute. A new act of a kind opens its window afresh. A send outside every window
is refused with 45015, one past an open window's allowance with 45047. The push helpers
of :class:`~sandbox.wechat.app.WeChatSandbox` record the acts; ``message/custom/send``
spends. Thread-safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.wechat.errors import ApiError

# kind → (seconds open, messages allowed)
RULES = {"event": (60, 3), "message": (48 * 3600, 5)}


@dataclass
class _Window:
    opened: float
    left: int


class ServiceWindows:
    """Each follower's open windows (one per kind)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}

    def record(self, openid: str, kind: str, at: float) -> None:
        """``openid`` acted at ``at``: ``kind`` ``message`` or ``event`` (follow, scan,
        menu click) opens that window with its full allowance."""
        seconds, allowance = RULES[kind]
        with self._lock:
            current = self._windows.get((openid, kind))
            if current is None or at >= current.opened:
                self._windows[(openid, kind)] = _Window(at, allowance)

    def spend(self, openid: str, now: float) -> str:
        """Take one message from an open window (the 1-minute one first, as it closes
        sooner); the window's kind.

        Raises:
            ApiError: 45015 no window is open, 45047 the open ones are used up.
        """
        with self._lock:
            open_ = [(kind, w) for kind in ("event", "message")
                     if (w := self._windows.get((openid, kind))) is not None
                     and now - w.opened <= RULES[kind][0]]
            for kind, window in open_:
                if window.left > 0:
                    window.left -= 1
                    return kind
        raise ApiError(45047 if open_ else 45015)

    def left(self, openid: str, now: float) -> dict[str, int]:
        """Messages left per open window (for tests)."""
        with self._lock:
            return {kind: w.left for kind in ("event", "message")
                    if (w := self._windows.get((openid, kind))) is not None
                    and now - w.opened <= RULES[kind][0]}
