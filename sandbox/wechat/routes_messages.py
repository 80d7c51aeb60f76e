"""QR codes and outgoing messages (customer-service, template, mass).

Sends are checked the way WeChat checks them and recorded in the :class:`Outbox`:
every message needs a current follower (43004); a customer-service message an open
window (45015: none; 45047: its messages are used — 5 within 48 hours of a message, 3
within a minute of a follow, scan or menu click); a template message a template_id
(40037) and a follower who has not turned the account's template messages off (43101),
and it is sent once per ``client_msg_id`` within 10 minutes; mass sends by
openid need 2..10000 recipients (40130 / 40032) and obey the mass rules of
:class:`Outbox` (clientmsgid 45065/45066/45067, per-follower quotas, 45028).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ApiError, ok
from sandbox.wechat.media import MediaStore
from sandbox.wechat.outbox import Outbox
from sandbox.wechat.population import Population
from sandbox.wechat.routing import integer, json_body, openid_list

MSGTYPES = frozenset({"text", "image", "voice", "video", "music", "news", "mpnews",
                      "mpnewsarticle", "msgmenu", "wxcard", "miniprogrampage", "mpvideo"})
MASS_MAX = 10_000
MEDIA_MESSAGES = frozenset({"image", "voice", "video"})


def _msgtype(data: dict) -> str:
    msgtype = data.get("msgtype")
    if msgtype not in MSGTYPES or not isinstance(data.get(msgtype), dict):
        raise ApiError(40008, "invalid message type")
    return msgtype


def messages_router(population: Population, outbox: Outbox,
                    clock: Callable[[], float], media: MediaStore | None = None) -> APIRouter:
    router = APIRouter(prefix="/cgi-bin")

    def follower(openid: object):
        if not isinstance(openid, str) or not openid:
            raise ApiError(41009)
        record = population.lookup(openid)
        if not record.subscribe:
            raise ApiError(43004)
        return record

    @router.post("/qrcode/create")
    async def qrcode_create(request: Request) -> dict:
        data = await json_body(request)
        scene = (data.get("action_info") or {}).get("scene") or {}
        value = scene.get("scene_str") if "scene_str" in scene else scene.get("scene_id")
        code = outbox.create_qrcode(str(data.get("action_name")), value,
                                    data.get("expire_seconds"))
        body: dict = {"ticket": code.ticket}
        if code.expire_seconds is not None:
            body["expire_seconds"] = code.expire_seconds
        body["url"] = code.url
        return body

    @router.post("/message/custom/send")
    async def custom_send(request: Request) -> dict:
        data = await json_body(request)
        record = follower(data.get("touser"))
        msgtype = _msgtype(data)
        # image, voice and video messages name uploaded media: unknown, or past its 3
        # days, is 40007 (sandbox/wechat/media.py)
        if (media is not None and msgtype in MEDIA_MESSAGES
                and media.get(data[msgtype].get("media_id")) is None):
            raise ApiError(40007)
        try:
            outbox.windows.spend(record.openid, clock())
        except ApiError as error:
            if error.errcode == 45047:
                raise ApiError(45047, "out of response count limit") from None
            raise
        outbox.record("custom", [record.openid], data, with_id=False)
        return ok()

    @router.post("/message/template/send")
    async def template_send(request: Request) -> dict:
        data = await json_body(request)
        record = follower(data.get("touser"))
        if not isinstance(data.get("template_id"), str) or not data["template_id"]:
            raise ApiError(40037)
        if record.templates_refused:
            # {"errcode":43101,"errmsg":"user refuse to accept the msg rid: ..."}, as
            # reported at https://developers.weixin.qq.com/community/develop/doc/
            # 000a4a980007c0a02513aea3d61400
            raise ApiError(43101)
        return ok(msgid=outbox.template(record.openid, data))

    def subscribed(openid: str) -> bool:
        record = population.get(openid)
        return bool(record and record.subscribe)

    def mass(kind_to: list[str], data: dict) -> dict:
        message = outbox.mass(kind_to, data, subscribed)
        return {"errcode": 0, "errmsg": "send job submission success",
                "msg_id": message.msgid, "msg_data_id": message.msgid + 6_000_000}

    @router.post("/message/mass/sendall")
    async def mass_sendall(request: Request) -> dict:
        data = await json_body(request)
        _msgtype(data)
        filt = data.get("filter") or {}
        if filt.get("is_to_all"):
            recipients = population.openids()
        else:
            # wechatpy 1.x still sends the pre-tags "group_id" name for the tag id.
            raw = filt.get("tag_id", filt.get("group_id"))
            tag_id = integer(raw, 45159)
            population.tag_name(tag_id)
            recipients = [r.openid for r in population.followers() if tag_id in r.tagid_list]
        return mass(recipients, data)

    @router.post("/message/mass/send")
    async def mass_send(request: Request) -> dict:
        data = await json_body(request)
        _msgtype(data)
        recipients = openid_list(data.get("touser"), limit=MASS_MAX, minimum=2,
                                 short_code=40130)
        for openid in recipients:
            population.lookup(openid)
        return mass(recipients, data)

    return router
