"""The naive design of the event-hall benchmark: one forked RQ job per event, no batching.

What a first integration does (the design card's naive path, as ``api_calls.naive``): the
callback verifies, decrypts and enqueues one job per push (its dedupe key as the job id,
so a resend is dropped); each job reads its follower's person (query Contact, query
Lead), creates the Lead when there is none, and adds the campaign member ("already a
member" is success): three or four Salesforce calls per event, each its own.

    python -m benchmarks.naive_hall web      # uvicorn on $PORT, the callback only
    python -m benchmarks.naive_hall worker   # an RQ worker (forks a work horse per job)

Both read the bridge's own settings (the emulators' environment) and ``REDIS_URL``.
"""

from __future__ import annotations

import os
import sys
import time

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from redis import Redis
from rq import Queue, Worker
from rq.job import Job

from connector.errors import FatalError
from connector.events import InboundEvent
from connector.redis_connection import connect
from connector.salesforce import DUPLICATE_VALUE, SalesforceGateway
from connector.salesforce.sessions import SessionStore
from connector.settings import load_settings
from webhooks.rejections import Rejected
from webhooks.wechat_callback import CallbackConfig, check_fresh, open_push

QUEUE = "naive"
JOB = "benchmarks.naive_hall.naive_event"  # by name: run as ``-m``, this module is __main__
SCENE_PREFIX = "sfc_"

_gateway: SalesforceGateway | None = None  # built in the worker before it forks


def campaign_of(event: InboundEvent) -> str | None:
    """The campaign id a scan's (or a follow's) QR scene names, if any."""
    key = (event.event_key or "").removeprefix("qrscene_")
    return key.removeprefix(SCENE_PREFIX) if key.startswith(SCENE_PREFIX) else None


def naive_event(openid: str, campaign_id: str) -> str:
    """One scan, the naive way: find or create the Lead, add the member."""
    sf = _gateway
    if sf is None:
        raise RuntimeError("the naive worker builds its gateway before it forks")
    contacts = sf.query("SELECT Id FROM Contact WHERE WeChat_OpenId__c = {o}", o=openid)
    person = {"ContactId": contacts[0]["Id"]} if contacts else None
    if person is None:
        leads = sf.query("SELECT Id FROM Lead WHERE WeChat_OpenId__c = {o}", o=openid)
        lead = leads[0]["Id"] if leads else sf.create(
            "Lead", {"LastName": "WeChat Follower", "Company": "WeChat",
                     "WeChat_OpenId__c": openid})
        person = {"LeadId": lead}
    try:
        sf.create("CampaignMember", {"CampaignId": campaign_id, **person})
    except FatalError as error:
        if error.code != DUPLICATE_VALUE:  # "already a campaign member" is success
            raise
    return next(iter(person.values()))


def create_app(redis: Redis | None = None) -> FastAPI:
    """The naive callback: verify, decrypt, enqueue one job per push, answer."""
    settings = load_settings()
    config = CallbackConfig.from_settings(settings)
    queue = Queue(QUEUE, connection=redis or connect())
    app = FastAPI()

    @app.post("/wechat/callback")
    async def callback(request: Request) -> PlainTextResponse:
        body = await request.body()
        try:
            check_fresh(request.query_params.get("timestamp"), config.window, time.time())
            fields, _ = open_push(config, request.query_params, body)
        except Rejected as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        event = InboundEvent.from_fields(fields)
        campaign = campaign_of(event)
        if campaign and not Job.exists(event.dedupe_key, connection=queue.connection):
            queue.enqueue(JOB, event.openid, campaign, job_id=event.dedupe_key)
        return PlainTextResponse("success")

    return app


def _worker() -> None:
    import benchmarks.naive_hall as module  # the jobs' module (this one runs as __main__)

    settings = load_settings()
    redis = connect()
    module._gateway = SalesforceGateway(settings, sessions=SessionStore(
        redis, settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_USERNAME))
    module._gateway.identity()  # logged in once, before the work horses fork
    Worker([Queue(QUEUE, connection=redis)], connection=redis).work(logging_level="WARNING")


def _web() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["PORT"]),
                log_level="warning")


if __name__ == "__main__":
    {"web": _web, "worker": _worker}[sys.argv[1]]()
