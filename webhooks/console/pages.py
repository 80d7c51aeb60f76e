"""The console's pages and the actions of their forms (every one behind sign-in, every
POST behind the CSRF token).

- ``/console``: sync health, the failed jobs of every queue as cards (``jobs/failures.py``),
  with replay and discard (``POST /console/failures/replay`` and ``/discard``);
- ``/console/throughput``: events per minute, with a chart;
- ``/console/budgets``: Salesforce's daily API usage and the allocation, WeChat's daily
  call quota per API and its mass-message quotas;
- ``/console/mapping``: the mapping in force, and a preview of what a push would write
  (``POST /console/mapping/preview``);
- ``/console/campaigns``: the QR codes, each campaign's figures per channel, and the
  message requests with their recipients' outcomes;
- ``/console/messages/<Id>``: one message request and its recipients, a page at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from redis import Redis
from redis.exceptions import RedisError
from starlette.templating import Jinja2Templates

from connector.errors import BridgeError
from connector.settings import Settings
from jobs import failures
from webhooks.console import csrf, figures, preview
from webhooks.console.signin import blocking, read_form, signed_in

if TYPE_CHECKING:  # the Salesforce client loads on first use, not with the web app
    from connector.salesforce import SalesforceGateway

log = logging.getLogger(__name__)


def build_router(settings: Settings, redis: Redis, templates: Jinja2Templates,
                 gateway: Callable[[], SalesforceGateway]) -> APIRouter:
    router = APIRouter()

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, {
            "person": signed_in(request), "csrf": csrf.token(request.session),
            "page": name.removesuffix(".html"), **context}, status_code=status)

    def instance_url() -> str | None:
        try:
            return gateway().instance_url()
        except BridgeError as error:
            log.warning("console: no Salesforce instance URL: %s", error)
            return None

    def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            if signed_in(request) is None:
                return RedirectResponse("/console/login", status_code=303)
            try:
                return handler(request)
            except RedisError as error:
                log.error("console: Redis unavailable: %s", error)
                return render(request, "problem.html", 503,
                              problem="Redis does not answer; the bridge's queues cannot "
                                      "be read. Check REDIS_URL and the Redis add-on.")
        return run

    @router.get("/console")
    def health(request: Request) -> Response:
        return guarded(lambda r: render(
            r, "health.html", cards=failures.cards(redis), instance=instance_url(),
            done=r.query_params.get("done")))(request)

    @router.get("/console/throughput")
    def throughput(request: Request) -> Response:
        return guarded(lambda r: render(r, "throughput.html",
                                        traffic=figures.traffic(redis)))(request)

    @router.get("/console/budgets")
    def budgets(request: Request) -> Response:
        return guarded(lambda r: render(
            r, "budgets.html", salesforce=figures.salesforce_budget(redis, settings),
            wechat=figures.wechat_quotas(redis, settings),
            calls=figures.wechat_call_quotas(redis, settings)))(request)

    @router.get("/console/mapping")
    def mapping(request: Request) -> Response:
        return guarded(lambda r: render(r, "mapping.html", **_mapping_page(settings)))(
            request)

    @router.get("/console/campaigns")
    def campaign_page(request: Request) -> Response:
        from webhooks.console import campaigns  # reads Salesforce: loads its client

        return guarded(lambda r: render(r, "campaigns.html",
                                        **campaigns.page(gateway, redis, settings)))(request)

    @router.get("/console/messages/{message_id}")
    def message_page(message_id: str, request: Request) -> Response:
        from webhooks.console import messages  # reads Salesforce: loads its client

        def show(r: Request) -> Response:
            try:
                return render(r, "messages.html", **messages.page(
                    gateway, redis, settings, message_id, r.query_params.get("status"),
                    r.query_params.get("after")))
            except messages.NotShown as why:
                return render(r, "problem.html", why.status, problem=str(why))
        return guarded(show)(request)

    async def action(request: Request) -> tuple[dict[str, str], Response | None]:
        if signed_in(request) is None:
            return {}, RedirectResponse("/console/login", status_code=303)
        form = await read_form(request)
        try:
            csrf.check(request.session, form.get("csrf"))
        except csrf.CsrfRefused as refused:
            return form, render(request, "problem.html", 403, problem=str(refused))
        return form, None

    @router.post("/console/failures/{verb}")
    async def failure_action(verb: str, request: Request) -> Response:
        form, refused = await action(request)
        if refused is not None:
            return refused
        queue, ids = form.get("queue", ""), [i for i in form.get("jobs", "").split(",") if i]
        if verb not in ("replay", "discard") or not ids:
            return render(request, "problem.html", 400, problem="Nothing to do: no job named.")
        try:
            if verb == "replay":
                done = len(await blocking(failures.replay, redis, queue, ids))
            else:
                done = await blocking(failures.discard, redis, queue, ids)
        except failures.UnknownJob as gone:
            return render(request, "problem.html", 409, problem=str(gone))
        log.info("console: %s %s %d %s jobs", signed_in(request)["username"], verb, done, queue)
        return RedirectResponse(f"/console?done={verb}d+{done}+{queue}+jobs", status_code=303)

    @router.post("/console/mapping/preview")
    async def preview_push(request: Request) -> Response:
        form, refused = await action(request)
        if refused is not None:
            return refused
        xml = form.get("xml", "")
        try:
            result, problem = preview.plan_push(settings.MAPPING_FILE, xml), None
        except ValueError as bad:
            result, problem = None, str(bad)
        context = _mapping_page(settings)
        return render(request, "mapping.html", 400 if problem else 200, **context, xml=xml,
                      problem=problem, result=json.dumps(result, indent=2, default=str)
                      if result is not None else None)

    return router


def _mapping_page(settings: Settings) -> dict[str, Any]:
    path = Path(settings.MAPPING_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        text = f"(cannot read {path}: {exc.strerror})"
    return {"mapping_path": str(path), "mapping_text": text}
