"""WeChat's daily call quota per API: counted per cgi path and Beijing day, refused with
45009 past the limit, readable with ``openapi/quota/get`` and reset with ``clear_quota``.

Sources:

- the limits of a newly registered account, "接口调用频次限制说明"
  (https://developers.weixin.qq.com/doc/service/Message_Management/API_Call_Limits.html):
  past one, the API answers 45009; the count resets at midnight Beijing time
  (WeChat's day); "每个账号每月共10次清零操作机会" (10 clears a month, the console's
  and ``clear_quota``'s together);
- 45009's text today: ``reach max api daily quota limit rid: ...`` (WeChat's staff,
  https://developers.weixin.qq.com/community/develop/doc/0002a85d0d8f389329fe661095c800;
  the limits page still shows the older "api freq out of limit");
- ``stable_token``: 500,000 a day ("每天限制调用 50 万次", https://developers.weixin.qq.com/
  doc/service/api/base/api_getstableaccesstoken; its force_refresh's 20 a day are
  :mod:`sandbox.wechat.tokens`');
- ``openapi/quota/get`` (https://developers.weixin.qq.com/doc/offiaccount/openApi/
  get_api_quota.html): ``{"cgi_path": "/cgi-bin/..."}`` -> ``{"errcode": 0, "errmsg":
  "ok", "quota": {"daily_limit", "used", "remain"}}``; 76021 for an unknown path (here:
  any path without a limit, since WeChat publishes none for it), 76003 for a path without
  its leading "/". Its own quota is not published: 100 a day is assumed (what quota/get
  reported for clear_quota to a developer: https://developers.weixin.qq.com/community/
  develop/doc/0000cc03cb42000ffa3fb047251c00);
- ``clear_quota`` (https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/
  2.0/api/openApi/clear_quota.html): ``{"appid": ...}``; 40013 for another appid, 48006
  "forbid to clear quota because of reaching the limit" past 10 a month (Beijing months).

WeChat does not say whether a call it refuses for another reason (a bad token, a bad
body) counts; the emulator counts every call it answers but a 45009, the stricter
reading. A 45009 itself is not counted: ``used`` never passes ``daily_limit``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sandbox.wechat.errors import ApiError

BEIJING_OFFSET = 8 * 3600
CLEARS_PER_MONTH = 10

DEFAULT_LIMITS: dict[str, int] = {
    "/cgi-bin/token": 2000,
    "/cgi-bin/stable_token": 500_000,
    "/cgi-bin/menu/create": 1000,
    "/cgi-bin/menu/get": 10_000,
    "/cgi-bin/menu/delete": 1000,
    "/cgi-bin/media/upload": 100_000,
    "/cgi-bin/media/get": 200_000,
    "/cgi-bin/message/custom/send": 500_000,
    "/cgi-bin/message/mass/sendall": 100,
    "/cgi-bin/message/mass/send": 100,
    "/cgi-bin/media/uploadnews": 10,
    "/cgi-bin/message/mass/delete": 10,
    "/cgi-bin/qrcode/create": 100_000,
    "/cgi-bin/user/get": 500,
    "/cgi-bin/user/info": 5_000_000,
    "/cgi-bin/user/info/updateremark": 10_000,
    "/cgi-bin/openapi/quota/get": 100,
}
# Not an API of the account: QR code images come from mp.weixin.qq.com, unmetered.
UNMETERED = frozenset({"/cgi-bin/showqrcode"})


def _day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now + BEIJING_OFFSET))


class DailyQuotas:
    """Calls per cgi path per Beijing day against ``limits`` (a path without one is
    counted and never refused); thread-safe."""

    def __init__(self, clock: Callable[[], float],
                 limits: dict[str, int] | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._used: dict[tuple[str, str], int] = {}
        self._clears: dict[str, int] = {}  # Beijing month -> clears

    def spend(self, path: str) -> None:
        """Count one call to ``path``. Raises: ApiError(45009) past its daily limit."""
        if path in UNMETERED:
            return
        key = (_day(self._clock()), path)
        with self._lock:
            limit = self._limits.get(path)
            if limit is not None and self._used.get(key, 0) >= limit:
                raise ApiError(45009)
            self._used[key] = self._used.get(key, 0) + 1

    def quota(self, path: str) -> dict[str, int]:
        """``openapi/quota/get``'s ``quota`` for ``path``.

        Raises:
            ApiError: 76003 (no leading "/"), 76021 (no limit known for the path).
        """
        if not path.startswith("/"):
            raise ApiError(76003)
        with self._lock:
            limit = self._limits.get(path)
            if limit is None:
                raise ApiError(76021)
            used = self._used.get((_day(self._clock()), path), 0)
        return {"daily_limit": limit, "used": used, "remain": max(0, limit - used)}

    def clear(self) -> None:
        """``clear_quota``: today's counts back to zero, one of the month's clears.

        Raises:
            ApiError(48006): the month's clears are spent.
        """
        now = self._clock()
        month = _day(now)[:7]
        with self._lock:
            if self._clears.get(month, 0) >= CLEARS_PER_MONTH:
                raise ApiError(48006)
            self._clears[month] = self._clears.get(month, 0) + 1
            today = _day(now)
            self._used = {k: v for k, v in self._used.items() if k[0] != today}

    # -- the control surface (tests and the demo) ----------------------------------------

    def set_limits(self, limits: dict[str, int | None]) -> None:
        """Change some paths' limits (None: no limit)."""
        with self._lock:
            for path, limit in limits.items():
                if limit is None:
                    self._limits.pop(path, None)
                else:
                    self._limits[path] = int(limit)

    def reset(self) -> None:
        """Forget every count and clear (not a ``clear_quota``: spends nothing)."""
        with self._lock:
            self._used.clear()
            self._clears.clear()

    def snapshot(self) -> dict:
        """``{"limits": {...}, "used": {path: calls today}, "clears_this_month": n}``."""
        now = self._clock()
        today = _day(now)
        with self._lock:
            return {"limits": dict(self._limits),
                    "used": {p: n for (d, p), n in self._used.items() if d == today},
                    "clears_this_month": self._clears.get(today[:7], 0)}
