"""``POST /salesforce/outbound/<secret>``: Salesforce's Outbound Messages, the
near-real-time way to notice changes (the clock's poll is the other; both feed the change
jobs of :mod:`connector.wayback.changes`).

Two doors: the URL must end with ``SALESFORCE_OUTBOUND_SECRET`` (the Outbound Message's
endpoint URL carries it; compared in constant time, before the body is read), and the
message's org must be the bridge's. An Outbound Message is not signed, and its org id
is no secret (it is in every Salesforce URL an admin shares), so the org alone would let
anyone make the bridge re-read records; the secret in the URL, which only the org's
admins see, keeps them out. Unset, every Outbound Message is refused (the clock's poll
still notices every change).

Per message: cap the body, parse the SOAP (defused XML, ``webhooks/outbound_soap.py``),
check ``OrganizationId`` against ``SALESFORCE_ORG_ID`` (or, unset, the org the bridge
logs in to, learnt once from its login and kept for the process), enqueue one change job
per object with the record ids, and answer the acknowledgement Salesforce expects. The
sObject's field values are never used: the job re-reads the records, so an old,
repeated or out-of-order notification does no harm, and the job id (from the
notification ids) makes a resend of a message that was queued no second job.

Refusals: 400 malformed (recorded like the WeChat callback's, ``webhooks/
rejections.py``, with the route's template as the path: never the secret), 403 without
the secret or for another org (logged with both ids), 413 too large. When Redis is down
(or answers too late, ``webhooks/blocking.py``, or the bridge's org cannot be learnt), a
SOAP fault with HTTP 500: a nack, so Salesforce resends the message later (for up to 24
hours).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from connector.errors import BridgeError, ConfigurationError
from connector.ids import is_record_id, same_id
from connector.settings import Settings
from connector.wayback import counters
from jobs.queues import enqueue_changes
from webhooks.blocking import OffLoop
from webhooks.outbound_soap import ACK, CONTENT_TYPE, MalformedMessage, fault, parse
from webhooks.rejections import Rejected
from webhooks.wechat_callback import read_capped

log = logging.getLogger(__name__)

PATH = "/salesforce/outbound"
SECRET_PATH = PATH + "/{secret}"
# A message holds at most 100 notifications; with the fields an admin picks that is tens
# of KiB. Beyond this it is not an Outbound Message.
MAX_BODY = 1024 * 1024


class OrgCheck:
    """The org whose messages are accepted: ``SALESFORCE_ORG_ID``, or the org of the
    bridge's own login (one login at most per process, or none when a worker already
    shared its session through Redis).

    Raises:
        ConfigurationError: ``SALESFORCE_ORG_ID`` is set but is not a Salesforce id.
    """

    def __init__(self, settings: Settings, redis: Redis) -> None:
        configured = settings.SALESFORCE_ORG_ID
        if configured is not None and not is_record_id(configured.strip()):
            raise ConfigurationError(
                f"SALESFORCE_ORG_ID: {configured[:40]!r} is not an org id; expected the 15- "
                "or 18-character id shown at Setup > Company Information (00D...)",
                code="SETTINGS")
        self._settings = settings
        self._redis = redis
        self._org_id = configured.strip() if configured else None

    @property
    def known(self) -> str | None:
        return self._org_id

    def learn(self) -> str:
        """The org of the bridge's login (blocking: may log in).

        Raises:
            BridgeError: the login failed.
        """
        # Imported here, once: the web process needs the Salesforce client for this alone
        # (a worker usually shared the session already), and loading it at start costs
        # every web process about 10 MB and a second.
        from connector.salesforce import SalesforceGateway, SessionStore

        gateway = SalesforceGateway(self._settings, sessions=SessionStore(
            self._redis, self._settings.SALESFORCE_CLIENT_ID, self._settings.SALESFORCE_USERNAME))
        try:
            self._org_id = gateway.identity().org_id
        finally:
            gateway.close()
        log.info("Outbound Messages are accepted from org %s (the bridge's login)",
                 self._org_id)
        return self._org_id


def _nack(reason: str) -> Response:
    return Response(fault(reason), status_code=500, media_type=CONTENT_TYPE)


def check_secret(expected: str | None, given: str | None) -> None:
    """Refuse a request whose URL does not end with the configured secret.

    Raises:
        Rejected: 403 (no secret configured, none given, or another one).
    """
    if expected is None:
        raise Rejected(403, "outbound message refused: SALESFORCE_OUTBOUND_SECRET is not "
                            "set; set it and end the Outbound Message's endpoint URL with "
                            "/salesforce/outbound/<that secret>")
    if given is None:
        raise Rejected(403, "outbound message without the secret in its URL; the "
                            "endpoint URL must be /salesforce/outbound/<secret>")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Rejected(403, "outbound message with a wrong secret in its URL (compare "
                            "the endpoint URL with SALESFORCE_OUTBOUND_SECRET)")


def build_router(settings: Settings, redis: Redis, off_loop: OffLoop | None = None
                 ) -> APIRouter:
    """The endpoint's routes, bound to the settings, one Redis connection, and the
    threads its Redis calls run in (default: an :class:`~webhooks.blocking.OffLoop`).

    Raises:
        ConfigurationError: ``SALESFORCE_ORG_ID`` is malformed.
    """
    org = OrgCheck(settings, redis)
    off_loop = off_loop or OffLoop()
    secret = settings.SALESFORCE_OUTBOUND_SECRET
    expected_secret = secret.get_secret_value() if secret is not None else None
    if expected_secret is None:
        log.warning("SALESFORCE_OUTBOUND_SECRET is not set: Outbound Messages are refused "
                    "(the clock's poll still notices changes)")
    router = APIRouter()

    def queue(by_object: dict[str, list[str]], key: str, notified: int) -> None:
        for obj, ids in by_object.items():
            enqueue_changes(redis, obj, ids, origin="om", key=key)
        counters.count(redis, notified=notified)

    async def receive(request: Request) -> Response:
        check_secret(expected_secret, request.path_params.get("secret"))
        body = await read_capped(request, MAX_BODY)
        try:
            message = parse(body)
        except MalformedMessage as exc:
            raise Rejected(400, f"malformed outbound message: {exc}") from None
        expected = org.known
        if expected is None:
            try:
                expected = await run_in_threadpool(org.learn)
            except BridgeError as exc:
                log.error("cannot learn the bridge's org to check an outbound message "
                          "(Salesforce will resend it): %s", exc)
                return _nack("the receiver cannot check the organization now")
        if not same_id(message.org_id, expected):
            log.warning("outbound message %s from org %s refused: this bridge accepts org "
                        "%s (SALESFORCE_ORG_ID)", message.action_id, message.org_id, expected)
            raise Rejected(403, f"outbound message from org {message.org_id}, not this "
                                "bridge's org")
        by_object: dict[str, list[str]] = {}
        for n in message.notifications:
            by_object.setdefault(n.object, []).append(n.record_id)
        key = hashlib.sha256(",".join(sorted(n.id for n in message.notifications))
                             .encode()).hexdigest()
        try:
            await off_loop(queue, by_object, key, len(message.notifications))
        except (RedisError, TimeoutError) as exc:
            log.error("Redis unavailable, outbound message %s not queued (Salesforce will "
                      "resend it): %s", message.action_id,
                      str(exc) or "no answer within the deadline")
            return _nack("the receiver cannot queue the notifications now")
        return Response(ACK, media_type=CONTENT_TYPE)

    router.add_route(SECRET_PATH, receive, methods=["POST"])
    router.add_route(PATH, receive, methods=["POST"])  # refused: tells the admin why
    return router
