"""WeChat's daily call quota per API, as the bridge counts it in Redis, and what the console,
``/metrics`` and ``connector quotas`` read (no wechatpy here: the web process imports it).

WeChat limits every Official Account API to a number of calls a day, reset at midnight
Beijing time; past it the API answers ``{"errcode": 45009, "errmsg": "reach max api daily
quota limit rid: ..."}`` until the next day (or an admin's ``clear_quota``, 10 a month).
WeChat's own figures can be read with ``POST /cgi-bin/openapi/quota/get`` (``{"cgi_path":
...}`` -> ``{"quota": {"daily_limit", "used", "remain"}}``), but that API has its own daily
quota, so the bridge keeps its own count instead and asks WeChat only when an operator
says so (``connector quotas --refresh``).

Three things per app id, all in Redis (every process and dyno adds to the same ones):

- **used**: calls WeChat answered, per cgi path, this Beijing day (:func:`count`, from
  the gateway's response hook, in the pipeline that already counts ``/metrics``). A
  call refused with 45009 is not counted: it is how WeChat says the count reached the
  limit, so it sets **exhausted** instead (the path and when), which the console shows
  as 0 remaining whatever the count says (another client of the same account, or the
  admin console, spends the same quota);
- **checked**: WeChat's own figures for a path (``openapi/quota/get``), when an
  operator last asked, this day.

Keys: ``bridge:wechat:quota:<app id>:<YYYY-MM-DD>`` (hash path -> calls),
``...:<day>:exhausted`` (hash path -> epoch seconds), ``...:<day>:checked`` (hash path
-> JSON); each kept :data:`KEEP_SECONDS` after its day began.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

BEIJING_OFFSET = 8 * 3600  # WeChat's day: UTC+8, no daylight saving
DAY = 86_400
KEEP_SECONDS = 2 * DAY  # yesterday's figures stay readable a day
PREFIX = "bridge:wechat:quota:"
QUOTA_ERRCODE = 45009

# Daily limits of a newly registered account, per cgi path, as WeChat publishes them in
# "接口调用频次限制说明" (API call frequency limits):
# https://developers.weixin.qq.com/doc/service/Message_Management/API_Call_Limits.html
# (also .../doc/offiaccount/Message_Management/API_Call_Limits.html). A verified account
# may be granted more: ``openapi/quota/get`` tells (``connector quotas --refresh``).
# Paths the bridge calls that are missing here (user/info/batchget, tags/*,
# message/template/send, menu/addconditional) have no published figure: the console
# shows their count, with the limit unknown until WeChat is asked.
DOCUMENTED_LIMITS: dict[str, int] = {
    "/cgi-bin/token": 2000,  # 获取access_token
    "/cgi-bin/menu/create": 1000,  # 自定义菜单创建
    "/cgi-bin/menu/get": 10_000,  # 自定义菜单查询
    "/cgi-bin/menu/delete": 1000,  # 自定义菜单删除
    "/cgi-bin/media/upload": 100_000,  # 上传多媒体文件 (the older page said 5,000)
    "/cgi-bin/media/get": 200_000,  # 下载多媒体文件 (the older page said 10,000)
    "/cgi-bin/message/custom/send": 500_000,  # 发送客服消息
    "/cgi-bin/message/mass/sendall": 100,  # 高级群发接口
    "/cgi-bin/message/mass/send": 100,  # 高级群发接口
    "/cgi-bin/media/uploadnews": 10,  # 上传图文消息接口
    "/cgi-bin/message/mass/delete": 10,  # 删除图文消息接口
    "/cgi-bin/qrcode/create": 100_000,  # 获取带参数的二维码
    "/cgi-bin/user/get": 500,  # 获取关注者列表
    "/cgi-bin/user/info": 5_000_000,  # 获取用户基本信息
    "/cgi-bin/user/info/updateremark": 10_000,  # 设置用户备注名
    # getStableAccessToken: "该接口调用频率限制为 1 万次每分钟，每天限制调用 50 万次"
    # (force_refresh: 20 a day besides), https://developers.weixin.qq.com/doc/service/
    # api/base/api_getstableaccesstoken
    "/cgi-bin/stable_token": 500_000,
    # openapi/quota/get has a quota of its own that WeChat does not publish; 100 a day is
    # what quota/get reported for clear_quota to a developer (https://developers.weixin.
    # qq.com/community/develop/doc/0000cc03cb42000ffa3fb047251c00): assumed, not known.
    "/cgi-bin/openapi/quota/get": 100,
}


def beijing_day(now: float) -> str:
    """The Beijing calendar day of ``now`` (epoch seconds), ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(now + BEIJING_OFFSET))


def seconds_to_reset(now: float) -> float:
    """Seconds from ``now`` to the next Beijing midnight, when WeChat's quotas reset."""
    return DAY - (now + BEIJING_OFFSET) % DAY


def cgi_path(url_path: str) -> str | None:
    """``/cgi-bin/user/info`` for a request path under ``/cgi-bin/`` (whatever the base
    URL's own prefix, as in the emulator's), else None."""
    if "/cgi-bin/" not in url_path:
        return None
    return "/cgi-bin/" + url_path.split("/cgi-bin/", 1)[1].rstrip("/")


def _key(app_id: str, day: str, part: str = "") -> str:
    return f"{PREFIX}{app_id}:{day}" + (f":{part}" if part else "")


def count(pipe: Pipeline, app_id: str, path: str, errcode: int | None, now: float) -> None:
    """Queue, on ``pipe``, one answered call to ``path``: a 45009 refusal marks the path
    exhausted for the day, any other answer adds one to its count."""
    day = beijing_day(now)
    if errcode == QUOTA_ERRCODE:
        key = _key(app_id, day, "exhausted")
        pipe.hset(key, path, repr(now))
    else:
        key = _key(app_id, day)
        pipe.hincrby(key, path, 1)
    pipe.expire(key, KEEP_SECONDS)


def store_checked(redis: Redis, app_id: str, path: str, quota: dict[str, Any],
                  now: float) -> None:
    """Keep WeChat's own figures for ``path`` (``openapi/quota/get``'s ``quota``), with
    the bridge's count at that moment, so that its later calls add to WeChat's count."""
    day = beijing_day(now)
    key = _key(app_id, day, "checked")
    record = {k: int(quota[k]) for k in ("daily_limit", "used", "remain") if k in quota}
    ours = int(redis.hget(_key(app_id, day), path) or 0)
    with redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, path, json.dumps({**record, "at": now, "bridge_used": ours}))
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()


@dataclass(frozen=True)
class Quota:
    """One API's day, for one app id.

    ``used``: calls the bridge made today; once WeChat was asked, WeChat's count then
    plus the bridge's calls since (other clients of the account spend the same quota);
    ``limit``: WeChat's figure when asked today, else the published one, else
    None; ``exhausted_at``: when WeChat last refused the path with 45009 today;
    ``checked``: WeChat's own figures and when (``openapi/quota/get``), if asked today.
    """

    path: str
    used: int
    limit: int | None
    exhausted_at: float | None
    checked: dict[str, Any] | None

    @property
    def exhausted(self) -> bool:
        return self.exhausted_at is not None or (
            self.limit is not None and self.used >= self.limit)

    @property
    def remaining(self) -> int | None:
        if self.exhausted:
            return 0
        return None if self.limit is None else self.limit - self.used

    @property
    def share(self) -> float | None:
        if self.exhausted:
            return 1.0
        return self.used / self.limit if self.limit else None

    @property
    def api(self) -> str:
        """The path without ``/cgi-bin/`` (``user/info``), as ``/metrics`` labels it."""
        return self.path.removeprefix("/cgi-bin/")


def read(redis: Redis, app_id: str, now: float | None = None) -> list[Quota]:
    """Today's quotas of ``app_id``: every path called, refused or checked today, and
    every path with a published limit; the most used share first (one round trip).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    now = time.time() if now is None else now
    day = beijing_day(now)
    with redis.pipeline(transaction=False) as pipe:
        for part in ("", "exhausted", "checked"):
            pipe.hgetall(_key(app_id, day, part))
        used_raw, exhausted_raw, checked_raw = pipe.execute()
    used = {_text(k): int(v) for k, v in used_raw.items()}
    exhausted = {_text(k): float(v) for k, v in exhausted_raw.items()}
    checked = {_text(k): json.loads(v) for k, v in checked_raw.items()}
    rows = []
    for path in sorted({*DOCUMENTED_LIMITS, *used, *exhausted, *checked}):
        seen = checked.get(path)
        limit = seen.get("daily_limit") if seen else DOCUMENTED_LIMITS.get(path)
        count_ = used.get(path, 0)
        if seen:
            count_ = int(seen.get("used", 0)) + max(0, count_ - int(seen.get("bridge_used", 0)))
        rows.append(Quota(path, count_, limit, exhausted.get(path), seen))
    rows.sort(key=lambda q: (-(q.share or 0.0), -q.used, q.path))
    return rows


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
