"""The WeChat API emulator: an ASGI app plus the account's state and the push helpers.

Requests under ``/cgi-bin/`` are counted per path (:attr:`WeChatSandbox.api_calls`) and
pass through the :class:`~sandbox.faults.FaultInjector` first, then each API's daily
quota (:mod:`sandbox.wechat.quotas`: 45009 past it). A fault answers in
WeChat's shape: ``status=200`` with ``code="45009"`` gives ``{"errcode": 45009, "errmsg":
"reach max api daily quota limit rid: …"}`` (a fault with status 200 and no code gives -1, system
error); any other status (502, 503, …) gives that HTTP status with an HTML body, as
WeChat's front proxies do.

How the sandbox and :class:`~sandbox.wechat.sender.CallbackSender` cooperate: the push
helpers here (:meth:`~WeChatSandbox.scan`, :meth:`~WeChatSandbox.follow`, …) change the
account's state first, as WeChat does before it pushes, and return the
:class:`~sandbox.wechat.pushes.Push` describing it; hand that to ``sender.deliver(push)``
to post it to the bridge. So a bridge job that reacts to the push by calling
``user/info`` sees the follower already subscribed with the QR scene.

Control routes (besides the faults router ``/__sandbox__/faults``)::

    GET    /__sandbox__/wechat/calls          API calls per path
    DELETE /__sandbox__/wechat/calls          reset the counters
    GET    /__sandbox__/wechat/messages       messages sent through the API
    POST   /__sandbox__/wechat/expire-tokens  expire every issued access token now
    GET    /__sandbox__/wechat/quotas         daily limits, calls counted today, clears
    PUT    /__sandbox__/wechat/quotas         {"limits": {"/cgi-bin/user/get": 3}} (null: none)
    DELETE /__sandbox__/wechat/quotas         forget the counts (spends no clear)
    GET|PUT /__sandbox__/wechat/ip-whitelist  who may fetch tokens ({"ips": [...]}; 40164)
    POST   /__sandbox__/wechat/acts           a person acts (follow, scan, text...): the push
    GET    /__sandbox__/wechat/pushes         job-finish pushes waiting for delivery
    POST   /__sandbox__/wechat/template-refusals   a follower turns template messages off
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sandbox.faults import Fault, FaultInjector, reset_connection
from sandbox.wechat import pushes
from sandbox.wechat.errors import ApiError, proxy_error
from sandbox.wechat.ip_whitelist import LOOPBACK, IpWhitelist
from sandbox.wechat.media import MediaStore, media_router
from sandbox.wechat.menus import Menus
from sandbox.wechat.outbox import Outbox, QRCode, SentMessage
from sandbox.wechat.population import Population
from sandbox.wechat.pushes import Push
from sandbox.wechat.quotas import DEFAULT_LIMITS, DailyQuotas
from sandbox.wechat.routes_acts import acts_router
from sandbox.wechat.routes_menu import menu_router
from sandbox.wechat.routes_messages import messages_router
from sandbox.wechat.routes_qrcode import qrcode_router
from sandbox.wechat.routes_quota import quota_router
from sandbox.wechat.routes_token import token_router
from sandbox.wechat.routes_users import PAGE, users_router
from sandbox.wechat.tokens import TokenStore

logger = logging.getLogger(__name__)


class QuotaLimitsBody(BaseModel):
    """Body of ``PUT /__sandbox__/wechat/quotas``: cgi path -> calls a day (None: none)."""

    limits: dict[str, int | None]


class IpWhitelistBody(BaseModel):
    """Body of ``PUT /__sandbox__/wechat/ip-whitelist``: addresses or CIDR blocks."""

    ips: list[str]


def fault_response(fault: Fault) -> JSONResponse:
    """WeChat's answer for an injected fault (see the module docstring)."""
    if fault.status != 200:
        return proxy_error(fault.status or 503)
    code = int(fault.code) if fault.code and fault.code.lstrip("-").isdigit() else -1
    return ApiError(code, fault.message).response()


class WeChatSandbox:
    """One Official Account: its credentials, audience, tokens, QR codes and outbox.

    ``clock`` (seconds since the epoch) drives token lifetimes, push ``CreateTime`` and
    the 48-hour service window; tests pass a settable one to move time. ``quota_limits``:
    each API's calls a day (default: WeChat's published figures, quotas.py; ``token_per_day``
    overrides ``cgi-bin/token``'s). ``list_page``:
    OpenIDs per page of ``user/get`` and ``user/tag/get`` (WeChat's 10,000 by default;
    smaller in tests and the demo, so every client pages).
    """

    def __init__(self, *, app_id: str, app_secret: str, population: Population,
                 original_id: str | None = None, clock: Callable[[], float] = time.time,
                 faults: FaultInjector | None = None, token_per_day: int = 2000,
                 force_refresh_per_day: int = 20, mass_per_month: int = 4,
                 account_type: str = "service", list_page: int = PAGE,
                 ip_whitelist: tuple[str, ...] = LOOPBACK,
                 conditional_menu_limit: int = 100,
                 quota_limits: dict[str, int] | None = None) -> None:
        self.app_id = app_id
        self.list_page = list_page
        self.original_id = original_id or "gh_" + hashlib.sha256(app_id.encode()).hexdigest()[:12]
        self.population = population
        self.clock = clock
        self.faults = faults or FaultInjector()
        self.tokens = TokenStore(clock, force_refresh_per_day=force_refresh_per_day)
        self.quotas = DailyQuotas(clock, quota_limits)  # every API's calls a day (45009)
        self.quotas.set_limits({"/cgi-bin/token": token_per_day})
        if quota_limits is None and list_page < PAGE:
            # Smaller pages take more calls to list the same followers: the day's user/get
            # quota grows alike, so a day lists as many followers as on WeChat (5,000,000).
            self.quotas.set_limits({"/cgi-bin/user/get": DEFAULT_LIMITS["/cgi-bin/user/get"]
                                    * PAGE // list_page})
        self.ip_whitelist = IpWhitelist(ip_whitelist)  # who may fetch tokens (40164)
        # Messages, quotas, windows and job-finish pushes (``outbox.take_pushes()``, or
        # ``outbox.notify = sender.deliver`` to have them delivered): see outbox.py.
        self.outbox = Outbox(clock, mass_per_month=mass_per_month, account_type=account_type)
        # Temporary media: uploads (media/upload) and what followers send (media.py).
        self.media = MediaStore(clock)
        # Where people's acts and job-finish pushes are delivered (a CallbackSender), when
        # a simulator outside the process drives the sandbox: see routes_acts.py.
        self.callback = None
        # The custom menu (menu/create, addconditional...): what people can click.
        self.menus = Menus(tags_of=lambda openid: population.lookup(openid).tagid_list,
                           tag_exists=lambda tag_id: any(
                               t["id"] == tag_id for t in population.tags()),
                           conditional_limit=conditional_menu_limit)
        self._calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        # MsgIds are 64-bit and unique per account; start where real ones live (~6e18).
        self._msg_ids = itertools.count(6 * 10**18 + int(clock()) % 10**9 * 10**6)
        self.app = self._build_app(app_secret)

    # -- the ASGI app ------------------------------------------------------------------

    def _build_app(self, app_secret: str) -> FastAPI:
        app = FastAPI(title="WeChat API sandbox", docs_url=None, redoc_url=None,
                      openapi_url=None)

        @app.exception_handler(ApiError)
        async def api_error(request: Request, exc: ApiError) -> JSONResponse:
            return exc.response()

        @app.middleware("http")
        async def count_and_inject(request: Request, call_next):
            path = request.url.path
            if not path.startswith("/cgi-bin/"):
                return await call_next(request)
            with self._calls_lock:
                self._calls[path] += 1
            latency_ms, fault = self.faults.pick(request.method, path)
            if latency_ms:
                await asyncio.sleep(latency_ms / 1000)
            if fault is not None and fault.reset:
                return reset_connection(request)
            if fault is not None:
                logger.info("injected fault on %s %s: %s", request.method, path, fault.status)
                return fault_response(fault)
            try:
                self.quotas.spend(path.rstrip("/"))
            except ApiError as refused:
                return refused.response()
            return await call_next(request)

        def authorized(access_token: str | None = None) -> None:
            self.tokens.check(access_token)

        guarded = [Depends(authorized)]
        app.include_router(token_router(self.tokens, self.ip_whitelist, app_id=self.app_id,
                                        app_secret=app_secret))
        app.include_router(users_router(self.population, page=self.list_page),
                           dependencies=guarded)
        app.include_router(messages_router(self.population, self.outbox, self.clock,
                                           self.media), dependencies=guarded)
        app.include_router(media_router(self.media), dependencies=guarded)
        # QR code images need no access token (mp.weixin.qq.com serves them on WeChat).
        app.include_router(menu_router(self.menus), dependencies=guarded)
        app.include_router(qrcode_router(self.outbox, self.clock))
        app.include_router(quota_router(self.quotas, app_id=self.app_id), dependencies=guarded)
        app.include_router(self.faults.router())
        app.include_router(self._control_router())
        app.include_router(acts_router(self))
        return app

    def _control_router(self) -> APIRouter:
        router = APIRouter(prefix="/__sandbox__/wechat")

        @router.get("/calls")
        def calls() -> dict:
            return dict(self.api_calls)

        @router.delete("/calls", status_code=204)
        def reset_calls() -> None:
            self.reset_api_calls()

        @router.get("/messages")
        def messages() -> list[dict]:
            return [asdict(m) for m in self.sent_messages]

        @router.post("/expire-tokens", status_code=204)
        def expire_tokens() -> None:
            self.tokens.expire_all()

        @router.get("/quotas")
        def quotas() -> dict:
            return self.quotas.snapshot()

        @router.put("/quotas")
        def set_quotas(body: QuotaLimitsBody) -> dict:
            self.quotas.set_limits(body.limits)
            return self.quotas.snapshot()

        @router.delete("/quotas", status_code=204)
        def reset_quotas() -> None:
            self.quotas.reset()

        @router.get("/ip-whitelist")
        def ip_whitelist() -> dict:
            return {"ips": self.ip_whitelist.entries}

        @router.put("/ip-whitelist")
        def set_ip_whitelist(body: IpWhitelistBody) -> dict:
            try:
                self.ip_whitelist.replace(body.ips)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            return {"ips": self.ip_whitelist.entries}

        return router

    # -- inspection --------------------------------------------------------------------

    @property
    def api_calls(self) -> Counter[str]:
        """A snapshot: request path (``/cgi-bin/user/info``) → calls, faults included."""
        with self._calls_lock:
            return Counter(self._calls)

    def reset_api_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    @property
    def sent_messages(self) -> list[SentMessage]:
        """Every accepted send call, oldest first."""
        return self.outbox.messages()

    def create_qrcode(self, scene: str | int, *, permanent: bool = True,
                      expire_seconds: int | None = None) -> QRCode:
        """What ``qrcode/create`` does, without HTTP (for seeding a scenario)."""
        name = ("QR_LIMIT_" if permanent else "QR_") + (
            "STR_SCENE" if isinstance(scene, str) else "SCENE")
        return self.outbox.create_qrcode(name, scene, expire_seconds)

    def set_menu(self, buttons: list[dict]) -> None:
        """What ``menu/create`` does, without HTTP (for seeding a scenario whose people
        click): ``buttons`` as the API takes them.

        Raises:
            ApiError: WeChat's menu checks (sandbox/wechat/menus.py).
        """
        self.menus.create({"button": buttons})

    # -- what people do (state change first, then the push that reports it) ------------

    def _now(self, at: int | None) -> int:
        return int(self.clock()) if at is None else at

    def scan(self, openid: str, scene: str | int, *, at: int | None = None) -> Push:
        """``openid`` scans the QR code of ``scene``.

        A follower gets a ``SCAN`` push; anyone else follows through the code (population
        updated: subscribed, ADD_SCENE_QR_CODE, ``qr_scene_str``/``qr_scene``) and gets a
        ``subscribe`` push with ``EventKey`` ``qrscene_<scene>`` and the code's ticket. A
        scene nobody created a code for gets a permanent code on the fly.

        Raises:
            ApiError(40003): unknown openid.
            ValueError: the scene's only codes have expired (WeChat would not push).
        """
        now = self._now(at)
        code = self.outbox.qrcode_for(scene)
        self.outbox.windows.record(openid, "event", now)  # a scan or follow: 1 minute
        if self.population.lookup(openid).subscribe:
            self.population.touch(openid, now)
            return pushes.scan(openid, now, scene=scene, ticket=code.ticket)
        self.population.follow(openid, scene, now)
        return pushes.subscribe(openid, now, scene=scene, ticket=code.ticket)

    def follow(self, openid: str | None = None, *, scene: str | int | None = None,
               at: int | None = None, subscribe_scene: str | None = None) -> Push:
        """A follow, by a new person when ``openid`` is None; through a QR code if ``scene``.

        Raises:
            ValueError: ``openid`` already follows (WeChat sends no second subscribe).
        """
        if openid is None:
            openid = self.population.new_follower().openid
        if self.population.lookup(openid).subscribe:
            raise ValueError(f"{openid} already follows the account")
        if scene is not None:
            return self.scan(openid, scene, at=at)
        now = self._now(at)
        self.population.follow(openid, None, now, subscribe_scene=subscribe_scene)
        self.outbox.windows.record(openid, "event", now)
        return pushes.subscribe(openid, now)

    def unfollow(self, openid: str, *, at: int | None = None) -> Push:
        self.population.unfollow(openid)
        return pushes.unsubscribe(openid, self._now(at))

    def _interaction(self, openid: str, at: int | None) -> int:
        now = self._now(at)
        self.population.touch(openid, now)
        return now

    def text(self, openid: str, content: str, *, at: int | None = None) -> Push:
        """A text message from a follower (opens the 48-hour service window)."""
        now = self._interaction(openid, at)
        self.outbox.windows.record(openid, "message", now)
        return pushes.text(openid, now, content=content, msg_id=next(self._msg_ids))

    def _message(self, openid: str, at: int | None) -> int:
        now = self._interaction(openid, at)
        self.outbox.windows.record(openid, "message", now)
        return now

    def image(self, openid: str, data: bytes = b"\xff\xd8\xff\xe0 a photo", *,
              at: int | None = None) -> Push:
        """A picture from a follower (opens the 48-hour window); its media is kept 3 days
        like any temporary media."""
        now = self._message(openid, at)
        media = self.media.keep("image", data, "photo.jpg", openid=openid)
        pic_url = f"http://mmbiz.qpic.cn/mmbiz_jpg/{media.media_id}/0"
        return pushes.image(openid, now, pic_url=pic_url, media_id=media.media_id,
                            msg_id=next(self._msg_ids))

    def voice(self, openid: str, data: bytes = b"#!AMR\n a voice", *,
              recognition: str | None = None, at: int | None = None) -> Push:
        """A voice message (``recognition``: the text, when the account has speech
        recognition on)."""
        now = self._message(openid, at)
        media = self.media.keep("voice", data, "voice.amr", openid=openid)
        return pushes.voice(openid, now, media_id=media.media_id, format="amr",
                            recognition=recognition, msg_id=next(self._msg_ids))

    def video(self, openid: str, data: bytes = b"\0\0\0\x18ftypmp42 a video", *,
              short: bool = False, at: int | None = None) -> Push:
        """A video (or ``short`` video) from a follower, with its thumbnail."""
        now = self._message(openid, at)
        media = self.media.keep("video", data, "video.mp4", openid=openid)
        thumb = self.media.keep("thumb", b"\xff\xd8\xff\xe0 thumb", "thumb.jpg",
                                openid=openid)
        return pushes.video(openid, now, media_id=media.media_id,
                            thumb_media_id=thumb.media_id, short=short,
                            msg_id=next(self._msg_ids))

    def click(self, openid: str, key: str, *, at: int | None = None) -> Push:
        """A menu click (opens the 1-minute service window).

        Raises:
            ValueError: no click button of the follower's menu has ``key`` (the
                personalised menu of their tags, else the default): WeChat pushes the
                key of the button tapped, so only a key on their menu can arrive
                (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/
                Receiving_event_pushes.html, "点击菜单拉取消息时的事件推送").
        """
        if not self.menus.has(openid, "click", "key", key):
            raise ValueError(f"{openid}'s menu has no click button with key {key!r}: "
                             "WeChat can only push a key the menu holds — publish it first")
        now = self._interaction(openid, at)
        self.outbox.windows.record(openid, "event", now)
        return pushes.click(openid, now, key=key)

    def view(self, openid: str, url: str, *, at: int | None = None) -> Push:
        """A tap on a view button of the menu (VIEW push: "点击菜单跳转链接时的事件推送",
        same page as ``click``).

        Raises:
            ValueError: no view button of the follower's menu opens ``url``.
        """
        if not self.menus.has(openid, "view", "url", url):
            raise ValueError(f"{openid}'s menu has no view button opening {url!r}: WeChat "
                             "pushes VIEW for the menu's own links only — publish it first")
        return pushes.view(openid, self._interaction(openid, at), url=url)

    def location(self, openid: str, latitude: float, longitude: float,
                 precision: float = 30.0, *, at: int | None = None) -> Push:
        return pushes.location(openid, self._interaction(openid, at), latitude=latitude,
                               longitude=longitude, precision=precision)
