"""User management: profiles, the follower list, remarks and tags.

Limits are WeChat's: ``user/info/batchget`` takes at most 100 openids, tagging at most 50
(40032 beyond), ``user/get`` and ``user/tag/get`` pages hold 10000 openids (``page``
makes them smaller, so a client that takes a short page for the last is caught), a
remark must be under 30 bytes of UTF-8 (40092).

Paging is WeChat's (https://developers.weixin.qq.com/doc/service/api/usermanage/tag/
api_gettagfans): ``next_openid`` is the last OpenID of the page, even on the last page
("拉取列表最后一个用户的openid"; the doc's own sample for a 2-follower tag names the
second); the call after the last page answers ``count`` 0 and ``next_openid`` "" — "next_openid
为空，说明已经没有下一页数据了" (WeChat's answer at https://developers.weixin.qq.com/
community/develop/doc/000ca49433cc585939b92211751c00).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ApiError, ok
from sandbox.wechat.population import Population
from sandbox.wechat.routing import integer, json_body, openid_list

PAGE = 10_000
BATCHGET_MAX = 100
TAGGING_MAX = 50
REMARK_MAX_BYTES = 30  # exclusive: "长度必须小于30字节"


def _page(total_and_ids: tuple[int, list[str]], *, with_total: bool) -> dict:
    total, ids = total_and_ids
    body: dict = {"total": total} if with_total else {}
    body["count"] = len(ids)
    if ids:
        body["data"] = {"openid": ids}
    # WeChat answers an exhausted list with count 0 and an empty next_openid.
    body["next_openid"] = ids[-1] if ids else ""
    return body


def users_router(population: Population, *, page: int = PAGE) -> APIRouter:
    """The user routes; ``page``: OpenIDs per ``user/get`` / ``user/tag/get`` page
    (WeChat's is :data:`PAGE`)."""
    router = APIRouter(prefix="/cgi-bin")

    @router.get("/user/info")
    def user_info(openid: str | None = None, lang: str = "zh_CN") -> dict:
        if not openid:
            raise ApiError(41009)
        return population.lookup(openid).user_info()

    @router.post("/user/info/batchget")
    async def batchget(request: Request) -> dict:
        items = (await json_body(request)).get("user_list")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ApiError(47001)
        openids = openid_list([i.get("openid") for i in items], limit=BATCHGET_MAX)
        return {"user_info_list": [population.lookup(o).user_info() for o in openids]}

    @router.get("/user/get")
    def user_get(next_openid: str | None = None) -> dict:
        return _page(population.page(next_openid or None, page), with_total=True)

    @router.post("/user/info/updateremark")
    async def update_remark(request: Request) -> dict:
        data = await json_body(request)
        openid, remark = data.get("openid"), data.get("remark")
        if not openid:
            raise ApiError(41009)
        if not isinstance(remark, str) or len(remark.encode("utf-8")) >= REMARK_MAX_BYTES:
            raise ApiError(40092)
        population.set_remark(openid, remark)
        return ok()

    @router.post("/tags/create")
    async def tags_create(request: Request) -> dict:
        name = ((await json_body(request)).get("tag") or {}).get("name")
        if not isinstance(name, str):
            raise ApiError(45157)
        return {"tag": {"id": population.create_tag(name), "name": name}}

    @router.get("/tags/get")
    def tags_get() -> dict:
        return {"tags": population.tags()}

    @router.post("/tags/update")
    async def tags_update(request: Request) -> dict:
        tag = (await json_body(request)).get("tag") or {}
        name = tag.get("name")
        if not isinstance(name, str):
            raise ApiError(45157)
        population.rename_tag(integer(tag.get("id"), 45159), name)
        return ok()

    @router.post("/tags/delete")
    async def tags_delete(request: Request) -> dict:
        tag = (await json_body(request)).get("tag") or {}
        population.delete_tag(integer(tag.get("id"), 45159))
        return ok()

    async def _tagging(request: Request) -> tuple[list[str], int]:
        data = await json_body(request)
        openids = openid_list(data.get("openid_list"), limit=TAGGING_MAX)
        return openids, integer(data.get("tagid"), 45159)

    @router.post("/tags/members/batchtagging")
    async def batch_tagging(request: Request) -> dict:
        population.tag(*await _tagging(request))
        return ok()

    @router.post("/tags/members/batchuntagging")
    async def batch_untagging(request: Request) -> dict:
        population.untag(*await _tagging(request))
        return ok()

    @router.post("/tags/getidlist")
    async def tags_of_user(request: Request) -> dict:
        openid = (await json_body(request)).get("openid")
        if not openid:
            raise ApiError(41009)
        return {"tagid_list": list(population.lookup(openid).tagid_list)}

    @router.post("/user/tag/get")
    async def users_of_tag(request: Request) -> dict:
        data = await json_body(request)
        tag_id = integer(data.get("tagid"), 45159)
        population.tag_name(tag_id)
        after = data.get("next_openid") or None
        return _page(population.page(after, page, tag_id=tag_id), with_total=False)

    return router
