"""WeChat API errors in WeChat's own shape.

WeChat answers HTTP 200 even on errors, with ``{"errcode": N, "errmsg": "<text> rid:
<id>"}``; the texts below are the ones its servers send (the ``rid`` suffix is added per
response). A 5xx only comes from WeChat's front proxies, with an HTML body.
"""

from __future__ import annotations

import random
import threading
import time

from fastapi.responses import HTMLResponse, JSONResponse

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    # media/upload and media ids: the global return codes page (its meanings), and the
    # errmsg texts of WeChat's error code list (sandbox/wechat/media.py names both)
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    # The custom menu: sources in sandbox/wechat/menus.py (CODES, CONDITIONAL).
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub button level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    46003: "menu no exist",
    # 65301/65302/65305/65316/65320: the global codes page gives only Chinese meanings
    # (no such personalised menu, no such user, too many personalised menus, too many
    # link domains, privacy rules refused); these texts render them.
    65301: "menuid not exist",
    65302: "user not exist",
    65303: "there is no selfmenu, please create selfmenu first",
    65304: "match rule empty",
    65305: "menu count limit",
    65316: "domain count reach limit",
    65320: "matchrule contains private info",
    40092: "invalid remark name",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41009: "missing openid",
    42001: "access_token expired",
    43004: "require subscribe",
    # Reported from template/send at https://developers.weixin.qq.com/community/develop/
    # doc/000a4a980007c0a02513aea3d61400 (the global return codes page lacks it).
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    # Today's text (sandbox/wechat/quotas.py names the source); older answers and the
    # limits page say "api freq out of limit".
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45056: "too many tags",
    45058: "can't modify sys tag",
    45059: "user tag too much",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    47001: "data format error",
    48006: "forbid to clear quota because of reaching the limit",
    # openapi/quota/get (sandbox/wechat/quotas.py); 76003's text is not published.
    76003: "invalid cgi_path",
    76021: "cgi_path not found, please check",
    49003: "not match openid and appid",
}

_rid_rng = random.Random()
_rid_lock = threading.Lock()


def request_id() -> str:
    """A request id shaped like WeChat's: ``<hex time>-<hex>-<hex>``."""
    with _rid_lock:
        a, b = _rid_rng.getrandbits(32), _rid_rng.getrandbits(32)
    return f"{int(time.time()):08x}-{a:08x}-{b:08x}"


class ApiError(Exception):
    """Raised by a handler to answer with WeChat's error body (HTTP 200)."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "system error")
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict:
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {request_id()}"}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body())


def ok(**extra) -> dict:
    """The success body of the endpoints that answer ``{"errcode": 0, "errmsg": "ok"}``."""
    return {"errcode": 0, "errmsg": "ok", **extra}


def proxy_error(status: int) -> HTMLResponse:
    """What WeChat's front proxy answers when a backend is down (no JSON, no errcode)."""
    title = {500: "500 Internal Server Error", 502: "502 Bad Gateway",
             503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out"}.get(
                 status, f"{status} Error")
    html = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
    return HTMLResponse(html + "</center></body></html>", status_code=status)
