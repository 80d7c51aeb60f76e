"""``/__sandbox__/wechat/acts`` and ``/__sandbox__/wechat/pushes``: people acting, for a
simulator outside the process.

A person's act goes through the sandbox (``WeChatSandbox.scan``, ``follow``, ``text``...),
so its population, windows and QR codes know of it exactly as when tests act in
process; the answer is the push's plaintext XML. When the sandbox has a callback (``connector
sandbox --callback-url``), it also delivers the push there, signed and encrypted like
WeChat's servers, and answers with what the bridge replied. ``GET /pushes`` hands out the
job-finish pushes waiting for delivery (none when a callback delivers them).
``POST /template-refusals`` is a follower's switch that pushes nothing: turning the
account's template messages off (or on again), after which template sends to them
answer 43101.
"""

from __future__ import annotations

from typing import Literal, Protocol

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from sandbox.wechat.errors import ApiError
from sandbox.wechat.outbox import Outbox
from sandbox.wechat.population import Population
from sandbox.wechat.pushes import Push
from sandbox.wechat.sender import CallbackSender


class People(Protocol):
    """What the routes need of the sandbox (:class:`sandbox.wechat.app.WeChatSandbox`):
    its people's acts, its account, its outbox and the callback it delivers to."""

    original_id: str
    outbox: Outbox
    population: Population
    callback: CallbackSender | None

    def follow(self, openid: str | None = None, *, scene: str | int | None = None,
               at: int | None = None) -> Push: ...
    def scan(self, openid: str, scene: str | int, *, at: int | None = None) -> Push: ...
    def unfollow(self, openid: str, *, at: int | None = None) -> Push: ...
    def text(self, openid: str, content: str, *, at: int | None = None) -> Push: ...
    def click(self, openid: str, key: str, *, at: int | None = None) -> Push: ...
    def view(self, openid: str, url: str, *, at: int | None = None) -> Push: ...
    def location(self, openid: str, latitude: float, longitude: float,
                 precision: float = 30.0, *, at: int | None = None) -> Push: ...


class Act(BaseModel):
    """One act: ``follow`` (``openid`` None: a new person; ``scene``: through a code),
    ``scan``, ``unfollow``, ``text`` (``content``), ``click`` (``key``), ``view``
    (``url``), ``location`` (``latitude``, ``longitude``). ``at``: unix seconds."""

    act: Literal["follow", "scan", "unfollow", "text", "click", "view", "location"]
    openid: str | None = None
    scene: str | None = None
    content: str | None = None
    key: str | None = None
    url: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    at: int | None = None


class TemplateRefusal(BaseModel):
    """A follower turns the account's template messages off (``refused``) or on."""

    openid: str
    refused: bool = True


def _needs(act: Act, *names: str) -> None:
    missing = [n for n in names if getattr(act, n) is None]
    if missing:
        raise HTTPException(400, f"act {act.act!r} needs {', '.join(missing)}")


def _refusal(exc: ApiError, openid: str | None) -> str:
    """The 400's detail: WeChat's errcode, and for an OpenID the sandbox never issued
    (WeChat's 40003: an account's OpenIDs are WeChat's to issue) how to get one."""
    detail = f"WeChat errcode {exc.errcode}: {exc}"
    if exc.errcode == 40003:
        detail += (f" ({openid!r} is not an OpenID of this account: a follow without "
                   '"openid" makes a new person, and its answer holds the OpenID to use '
                   "in later acts)")
    return detail


def acts_router(box: People) -> APIRouter:
    router = APIRouter(prefix="/__sandbox__/wechat")

    @router.post("/acts")
    def act(act: Act) -> dict:
        if act.act != "follow":
            _needs(act, "openid")
        try:
            if act.act == "follow":
                push = box.follow(act.openid, scene=act.scene, at=act.at)
            elif act.act == "scan":
                _needs(act, "scene")
                push = box.scan(act.openid, act.scene, at=act.at)
            elif act.act == "unfollow":
                push = box.unfollow(act.openid, at=act.at)
            elif act.act == "text":
                _needs(act, "content")
                push = box.text(act.openid, act.content, at=act.at)
            elif act.act == "click":
                _needs(act, "key")
                push = box.click(act.openid, act.key, at=act.at)
            elif act.act == "view":
                _needs(act, "url")
                push = box.view(act.openid, act.url, at=act.at)
            else:
                _needs(act, "latitude", "longitude")
                push = box.location(act.openid, act.latitude, act.longitude, at=act.at)
        except ApiError as exc:  # an OpenID the sandbox does not know (40003)...
            raise HTTPException(400, _refusal(exc, act.openid)) from None
        except (KeyError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        out = {"openid": push.openid, "xml": push.xml(box.original_id), "delivered": False}
        if box.callback is not None:
            delivery = box.callback.deliver(push)
            out.update(delivered=delivery.acknowledged, status=delivery.status,
                       reply=delivery.reply)
            if not delivery.acknowledged:  # why, and where: WeChat gave up on this push
                problem = (f"{delivery.problem or 'not acknowledged'} from "
                           f"{box.callback.url} after {delivery.attempts} attempt(s)")
                if delivery.status is None:
                    problem += "; is the bridge running there (connector run)?"
                out.update(attempts=delivery.attempts, problem=problem)
        return out

    @router.post("/template-refusals")
    def template_refusal(change: TemplateRefusal) -> dict:
        try:
            record = box.population.refuse_templates(change.openid, change.refused)
        except ApiError as exc:  # an OpenID the sandbox does not know (40003)
            raise HTTPException(400, f"WeChat errcode {exc.errcode}: {exc}") from None
        return {"openid": record.openid, "templates_refused": record.templates_refused}

    @router.get("/pushes")
    def pushes() -> list[dict]:
        return [{"openid": p.openid, "xml": p.xml(box.original_id)}
                for p in box.outbox.take_pushes()]

    return router
