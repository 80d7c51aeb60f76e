"""What the account sent (messages) and made (QR codes), kept for tests to inspect.

Sends follow WeChat's rules (see ``routes_messages.py`` for the checks of each call):

- a template message with a ``client_msg_id`` seen for the same follower within 10
  minutes is not sent again: the first one's ``msgid`` is answered;
- a mass job with a ``clientmsgid`` seen before is refused: 45066 within a minute, else
  45065 with the first job's ``msg_id`` (without one, WeChat keys the job by a digest of
  its recipients and content); longer than 64 bytes: 45067;
- each follower receives at most ``mass_per_month`` mass messages a calendar month
  (service account) or 1 a day (subscription account), months and days in Beijing
  time; WeChat leaves the others out silently (the job-finish push's counts show it);
- the account may make 100 mass calls a day (service) or 1 (subscription): 45028.

After a template or mass send, WeChat pushes its job-finish event (TEMPLATESENDJOBFINISH
from the recipient, MASSSENDJOBFINISH from the mass helper): the outbox keeps these
:class:`~sandbox.wechat.pushes.Push` es for :meth:`Outbox.take_pushes`, or hands each to
``notify`` (e.g. a :class:`~sandbox.wechat.sender.CallbackSender`'s ``deliver``) from a
background thread, as WeChat pushes after it answered the send.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.wechat.errors import ApiError
from sandbox.wechat.pushes import Push
from sandbox.wechat.windows import ServiceWindows

BEIJING = timezone(timedelta(hours=8))
TEMPLATE_DEDUPE, MASS_RETRY = 600, 60  # seconds: client_msg_id / clientmsgid rules
MASS_CALLS_PER_DAY = {"service": 100, "subscription": 1}
MAX_PUSHES = 10_000  # job-finish pushes kept for take_pushes
# The FromUserName of MASSSENDJOBFINISH: WeChat's docs call it the account's mass-send
# helper ("mphelper"); their sample shows an OpenID-like value, as here.
MASS_HELPER = "oMpHelper_mass_send_helper0"
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
    filtered: tuple[str, ...] = ()  # mass: recipients WeChat left out (quota, unfollowed)

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
    """Thread-safe record of sent messages, message ids, quotas, pushes and QR codes.

    ``account_type`` (``service`` or ``subscription``) picks the mass-message rules;
    ``mass_per_month`` is a service account's allowance per follower. ``refusing``:
    followers who block the account's messages after the send was taken (their
    job-finish push says ``failed:user block``); ``system_failing``: followers WeChat
    fails to reach (``failed: system failed``). ``zero_template_msgids``: a template
    send with a ``client_msg_id`` answers msgid 0, and its push says MsgID 0, as seen
    in the field (issue 10; no public page documents it), so a receiver cannot take a
    template MsgID for unique.
    """

    clock: Callable[[], float]
    mass_per_month: int = 4  # a verified service account's allowance per follower
    account_type: str = "service"
    notify: Callable[[Push], None] | None = None
    windows: ServiceWindows = field(default_factory=ServiceWindows)
    refusing: set[str] = field(default_factory=set)
    system_failing: set[str] = field(default_factory=set)
    zero_template_msgids: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: list[SentMessage] = field(default_factory=list)
    _qrcodes: list[QRCode] = field(default_factory=list)
    _next_id: int = 200_228_332
    _received: dict[tuple[str, str], int] = field(default_factory=dict)
    _mass_calls: dict[str, int] = field(default_factory=dict)
    _mass_keys: dict[str, tuple[int, float]] = field(default_factory=dict)
    _template_keys: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    _pushes: deque[Push] = field(default_factory=lambda: deque(maxlen=MAX_PUSHES))

    def record(self, kind: str, to: list[str], body: dict, *, with_id: bool) -> SentMessage:
        """Store one send (a customer-service message); ``with_id`` gives it a msgid."""
        with self._lock:
            return self._store(kind, to, body, with_id=with_id)

    def _store(self, kind: str, to: list[str], body: dict, *, with_id: bool,
               filtered: tuple[str, ...] = ()) -> SentMessage:
        msgid = None
        if with_id:
            msgid, self._next_id = self._next_id, self._next_id + 1
        message = SentMessage(kind, tuple(to), body, int(self.clock()), msgid, filtered)
        self._messages.append(message)
        return message

    def template(self, openid: str, body: dict) -> int:
        """A template message's msgid; a ``client_msg_id`` repeated for this follower
        within 10 minutes sends nothing and answers the first msgid."""
        now = self.clock()
        key = body.get("client_msg_id")
        with self._lock:
            seen = self._template_keys.get((openid, key)) if key else None
            if seen is not None and now - seen[1] < TEMPLATE_DEDUPE:
                return seen[0]
            message = self._store("template", [openid], body, with_id=True)
            msgid = 0 if key and self.zero_template_msgids else int(message.msgid or 0)
            if key:
                self._template_keys[(openid, key)] = (msgid, now)
            # The push's fields and Status values are WeChat's: the template message
            # doc's TEMPLATESENDJOBFINISH sample (../shared/reference/wechat_vectors.md
            # V8: success / "failed:user block" / "failed: system failed", the space
            # only in the last); ToUserName, FromUserName (the recipient) and
            # CreateTime come first (Push.items), MsgID bare, Status in CDATA.
            status = ("failed:user block" if openid in self.refusing
                      else "failed: system failed" if openid in self.system_failing
                      else "success")
            push = Push(openid, int(now), (("MsgType", "event"),
                                           ("Event", "TEMPLATESENDJOBFINISH"),
                                           ("MsgID", msgid), ("Status", status)))
        self._emit(push)
        return msgid

    def mass(self, to: list[str], body: dict, subscribed: Callable[[str], bool]) -> SentMessage:
        """A mass job to ``to`` (``subscribed`` says who still follows).

        Raises:
            ApiError: 45067 (clientmsgid too long), 45066 / 45065 (clientmsgid seen;
                45065 carries ``msg_id``), 45028 (no mass calls left today).
        """
        now = self.clock()
        key = body.get("clientmsgid")
        if key is not None and len(str(key).encode()) > 64:
            raise ApiError(45067, "clientmsgid size out of limit")
        content = {k: v for k, v in body.items() if k not in ("touser", "filter",
                                                                 "clientmsgid")}
        key = str(key) if key is not None else hashlib.sha256(json.dumps(
            [sorted(to), content], sort_keys=True).encode()).hexdigest()
        with self._lock:
            seen = self._mass_keys.get(key)
            if seen is not None:
                if now - seen[1] < MASS_RETRY:
                    raise ApiError(45066, "same clientmsgid retry too fast")
                raise DuplicateMass(seen[0])
            day = _period(now, "day")
            if self._mass_calls.get(day, 0) >= MASS_CALLS_PER_DAY[self.account_type]:
                raise ApiError(45028)
            self._mass_calls[day] = self._mass_calls.get(day, 0) + 1
            unit = "month" if self.account_type == "service" else "day"
            limit = self.mass_per_month if unit == "month" else 1
            period = _period(now, unit)
            received = [o for o in dict.fromkeys(to) if subscribed(o)
                        and self._received.get((period, o), 0) < limit]
            for openid in received:
                self._received[(period, openid)] = self._received.get((period, openid), 0) + 1
            left_out = tuple(o for o in to if o not in set(received))
            message = self._store("mass", to, body, with_id=True, filtered=left_out)
            self._mass_keys[key] = (int(message.msgid or 0), now)
            push = Push(MASS_HELPER, int(now), (
                ("MsgType", "event"), ("Event", "MASSSENDJOBFINISH"),
                ("MsgID", int(message.msgid or 0)), ("Status", "send success"),
                ("TotalCount", len(to)), ("FilterCount", len(received)),
                ("SentCount", len(received)), ("ErrorCount", 0)))
        self._emit(push)
        return message

    def mass_received(self, openid: str) -> int:
        """Mass messages ``openid`` received in the current quota period."""
        unit = "month" if self.account_type == "service" else "day"
        with self._lock:
            return self._received.get((_period(self.clock(), unit), openid), 0)

    def _emit(self, push: Push) -> None:
        notify = self.notify
        if notify is None:
            with self._lock:  # kept for take_pushes (bounded: a sandbox nobody drains)
                self._pushes.append(push)
        else:
            threading.Thread(target=notify, args=(push,), daemon=True).start()

    def take_pushes(self) -> list[Push]:
        """The job-finish pushes made since the last call (oldest first), for a test to
        deliver; empty when ``notify`` delivers them."""
        with self._lock:
            pushes = list(self._pushes)
            self._pushes.clear()
            return pushes

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


class DuplicateMass(ApiError):  # noqa: N818 - WeChat's error, as ApiError names them
    """45065: a mass job with this clientmsgid exists; its ``msg_id`` is answered."""

    def __init__(self, msg_id: int) -> None:
        super().__init__(45065, "clientmsgid exist")
        self.msg_id = msg_id

    def body(self) -> dict:
        return {**super().body(), "msg_id": self.msg_id}


def _period(now: float, unit: str) -> str:
    """The month or day of ``now`` in Beijing time, as WeChat counts quotas."""
    return datetime.fromtimestamp(now, BEIJING).strftime("%Y-%m" if unit == "month"
                                                         else "%Y-%m-%d")
