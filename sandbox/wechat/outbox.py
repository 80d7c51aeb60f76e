"""What the account sent (messages) and made (QR codes), kept for tests to inspect."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.wechat.errors import ApiError

PERMANENT = frozenset({"QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})
STRING_SCENES = frozenset({"QR_STR_SCENE", "QR_LIMIT_STR_SCENE"})
ACTIONS = PERMANENT | STRING_SCENES | {"QR_SCENE"}
TEMP_DEFAULT, TEMP_MAX = 60, 2_592_000  # seconds: WeChat's default and 30-day maximum


@dataclass(frozen=True)
class SentMessage:
    """One accepted send call: ``kind`` is custom, template or mass; ``to`` its recipients."""

    kind: str
    to: tuple[str, ...]
    body: dict[str, Any]
    at: int
    msgid: int | None = None

    @property
    def msgtype(self) -> str | None:
        return self.body.get("msgtype")

    @property
    def content(self) -> str | None:
        """The text of a text message, if it is one."""
        return (self.body.get("text") or {}).get("content")


@dataclass(frozen=True)
class QRCode:
    """A parametric QR code; ``scene`` is the scene_id (int) or scene_str."""

    ticket: str
    action_name: str
    scene: str | int
    url: str
    created_at: int
    expire_seconds: int | None = None

    def expired(self, now: float) -> bool:
        return self.expire_seconds is not None and now >= self.created_at + self.expire_seconds


@dataclass
class Outbox:
    """Thread-safe record of sent messages, message ids, mass quota and QR codes."""

    clock: Callable[[], float]
    mass_per_month: int = 4  # a verified service account's allowance
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: list[SentMessage] = field(default_factory=list)
    _qrcodes: list[QRCode] = field(default_factory=list)
    _next_id: int = 200_228_332
    _mass_used: dict[tuple[int, int], int] = field(default_factory=dict)

    def record(self, kind: str, to: list[str], body: dict, *, with_id: bool) -> SentMessage:
        """Store one send; ``with_id`` gives it a msgid. Raises: ApiError(45028) for mass
        sends beyond the monthly quota."""
        with self._lock:
            if kind == "mass":
                month = _month(self.clock())
                if self._mass_used.get(month, 0) >= self.mass_per_month:
                    raise ApiError(45028)
                self._mass_used[month] = self._mass_used.get(month, 0) + 1
            msgid = None
            if with_id:
                msgid, self._next_id = self._next_id, self._next_id + 1
            message = SentMessage(kind, tuple(to), body, int(self.clock()), msgid)
            self._messages.append(message)
            return message

    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def create_qrcode(self, action_name: str, scene: str | int,
                      expire_seconds: int | None = None) -> QRCode:
        """Register a QR code (validated like ``qrcode/create``). Raises: ApiError(40097)."""
        if action_name not in ACTIONS:
            raise ApiError(40097, "invalid args")
        if action_name in STRING_SCENES:
            if not isinstance(scene, str) or not 1 <= len(scene) <= 64:
                raise ApiError(40097, "invalid args")
        elif not isinstance(scene, int) or isinstance(scene, bool) or not (
                1 <= scene <= (100_000 if action_name in PERMANENT else 2**32 - 1)):
            raise ApiError(40097, "invalid args")
        expire = None
        if action_name not in PERMANENT:
            expire = min(max(int(expire_seconds or TEMP_DEFAULT), 1), TEMP_MAX)
        tail = "".join(c for c in base64.b64encode(os.urandom(24)).decode() if c.isalnum())
        code = QRCode(
            ticket="gQ" + base64.b64encode(os.urandom(48)).decode(),
            action_name=action_name,
            scene=scene,
            url=f"http://weixin.qq.com/q/{tail[:22]}",
            created_at=int(self.clock()),
            expire_seconds=expire,
        )
        with self._lock:
            self._qrcodes.append(code)
        return code

    def qrcode_for(self, scene: str | int) -> QRCode:
        """The newest live QR code of ``scene``; a permanent one is made if none exists.

        Raises:
            ValueError: every code for this scene has expired (WeChat would not push).
        """
        now = self.clock()
        with self._lock:
            codes = [c for c in self._qrcodes if c.scene == scene]
        live = [c for c in codes if not c.expired(now)]
        if live:
            return live[-1]
        if codes:
            raise ValueError(f"every QR code for scene {scene!r} has expired")
        action = "QR_LIMIT_STR_SCENE" if isinstance(scene, str) else "QR_LIMIT_SCENE"
        return self.create_qrcode(action, scene)

    def qrcodes(self) -> list[QRCode]:
        with self._lock:
            return list(self._qrcodes)


def _month(now: float) -> tuple[int, int]:
    date = datetime.fromtimestamp(now, tz=UTC)
    return date.year, date.month
