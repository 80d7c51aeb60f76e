"""``/wechat/callback``: WeChat's URL verification (GET) and its pushes (POST).

A push is answered in well under a millisecond of our own work: cap the body, check the
timestamp window and the signature (constant time), decrypt, parse (defused XML), build
the :class:`~connector.events.InboundEvent`, enqueue it under its dedupe key, and answer
``success`` (or a passive reply). No Salesforce or WeChat API is called here.

Modes, decided by configuration rather than by the request:

- no EncodingAESKey configured: plain mode. ``signature`` covers token/timestamp/nonce
  only (not the body). A compatible-mode body (plaintext fields + ``Encrypt``) is read by
  its plaintext fields, which lets an operator switch WeChat to compatible mode first.
- an EncodingAESKey configured: only ``encrypt_type=aes`` pushes are accepted, verified by
  ``msg_signature`` over token/timestamp/nonce/Encrypt (WeChat's doc: not ``signature``),
  and only the decrypted content is trusted; plaintext fields beside ``Encrypt``
  (compatible mode) are ignored. Plain pushes are refused: their body is unauthenticated.

Several Official Accounts (``WECHAT_ACCOUNTS``): each has its own
:class:`CallbackConfig`; a push goes to the account whose token verifies ``signature``
(and, when several do or in safe mode without ``signature``, whose original id is the
envelope's plaintext ``ToUserName``), and is then handled exactly as a lone account's:
its token, its cipher, its original id as the expected ``ToUserName``. See :func:`route`.

Refusals raise :class:`~webhooks.rejections.Rejected` (400 malformed, 403 not from
WeChat or not for us, 413 too large). The Redis round trips (the enqueue, the cached
reply) run off the event loop within a deadline (:class:`webhooks.blocking.OffLoop`):
Redis down or slow answers 503 within that deadline, so WeChat resends, and the next
push after Redis is back is queued as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from redis import Redis
from redis.exceptions import RedisError

from connector.events import InboundEvent
from connector.replies.passive import Replier, no_reply
from connector.settings import Settings
from connector.settings.accounts import WeChatAccount
from connector.wechat.crypto import AppIdMismatchError, DecryptError, PushCipher, check_signature
from connector.wechat.pushes import MalformedPushError, Message, parse_fields, parse_push
from jobs.queues import enqueue_inbound
from webhooks.blocking import OffLoop
from webhooks.metrics import PushRecorder, rejected_outcome
from webhooks.rejections import SAMPLE_BYTES, Rejected

log = logging.getLogger(__name__)

PATH = "/wechat/callback"
SUCCESS = "success"

@dataclass(frozen=True)
class CallbackConfig:
    """What the callback needs from the settings, resolved once per app."""

    token: str
    cipher: PushCipher | None
    original_id: str | None
    window: int
    max_body: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackConfig:
        """The primary account's configuration."""
        return cls.all_from_settings(settings)[0]

    @classmethod
    def all_from_settings(cls, settings: Settings) -> tuple[CallbackConfig, ...]:
        """One configuration per account, the primary first (see :func:`route`)."""
        return tuple(cls.from_account(account, settings) for account in
                     settings.wechat_accounts())

    @classmethod
    def from_account(cls, account: WeChatAccount, settings: Settings) -> CallbackConfig:
        cipher = None
        if account.encoding_aes_key is not None:
            previous = account.previous_encoding_aes_key
            cipher = PushCipher(
                account.encoding_aes_key.get_secret_value(),
                account.app_id,
                previous.get_secret_value() if previous is not None else None,
                token=account.token.get_secret_value(),
            )
        return cls(
            token=account.token.get_secret_value(),
            cipher=cipher,
            original_id=account.original_id,
            window=settings.WECHAT_TIMESTAMP_WINDOW,
            max_body=settings.WECHAT_MAX_BODY_BYTES,
        )


def check_fresh(timestamp: str | None, window: int, now: float) -> None:
    """Refuse a missing, malformed or stale ``timestamp`` (replay protection).

    Raises:
        Rejected: 403.
    """
    try:
        stamp = int(timestamp or "")
    except ValueError:
        raise Rejected(403, "missing or malformed timestamp") from None
    if abs(now - stamp) > window:
        raise Rejected(403, f"timestamp {stamp} is {int(now - stamp)} s off (window {window} s)")


def open_push(
    config: CallbackConfig, query: Mapping[str, str], body: bytes
) -> tuple[dict[str, str], Message]:
    """Verify and open one push body: its trusted fields and wechatpy's typed message.

    The timestamp window is checked by the caller. Raises:
        Rejected: 403 for a bad signature or msg_signature, a refused mode or another app
            id; 400 for a body that is not UTF-8, not a push, or does not decrypt.
    """
    timestamp, nonce = query.get("timestamp"), query.get("nonce")
    signature = query.get("signature")
    # WeChat sends ``signature`` in every mode. Checked first, a valid one proves the
    # sender knows our token, so what follows can say "malformed" (400) rather than
    # "not from WeChat" (403). In safe mode it may be absent: msg_signature decides.
    if (signature is not None or config.cipher is None) and not check_signature(
        config.token, signature, timestamp, nonce
    ):
        raise Rejected(403, "bad signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    try:
        if config.cipher is None:
            return parse_push(text)
        encrypt = parse_fields(text).get("Encrypt")  # defused: garbage and DTDs → 400
        if query.get("encrypt_type") != "aes":
            raise Rejected(403, "unencrypted push refused: an EncodingAESKey is configured")
        if not encrypt:
            raise Rejected(400, "encrypted push without an Encrypt field")
        if not check_signature(config.token, query.get("msg_signature"), timestamp, nonce, encrypt):
            raise Rejected(403, "bad msg_signature")
        return parse_push(config.cipher.decrypt(encrypt))
    except MalformedPushError as exc:
        raise Rejected(400, f"malformed push: {exc}") from None
    except AppIdMismatchError:
        raise Rejected(403, "push encrypted for another app id") from None
    except DecryptError as exc:
        raise Rejected(400, f"cannot decrypt: {exc}") from None


def route(configs: Sequence[CallbackConfig], query: Mapping[str, str],
          body: bytes) -> CallbackConfig:
    """The account a push is for; the caller then opens it with :func:`open_push`.

    A lone account is returned as it is (its checks are :func:`open_push`'s, as before).
    Otherwise: the accounts whose token verifies ``signature`` (each check constant
    time); without ``signature``, those in safe mode (their ``msg_signature`` decides in
    :func:`open_push`). When more than one remains (a token shared, or no
    ``signature``), the envelope's plaintext ``ToUserName`` picks: it is only a hint,
    since the opened push's own ``ToUserName`` is checked against the account later.

    Raises:
        Rejected: 403 when no account verifies the push or none is its ``ToUserName``;
            400 for an envelope that does not parse.
    """
    if len(configs) == 1:
        return configs[0]
    timestamp, nonce = query.get("timestamp"), query.get("nonce")
    signature = query.get("signature")
    if signature is None:
        candidates = [c for c in configs if c.cipher is not None]
    else:
        candidates = [c for c in configs
                      if check_signature(c.token, signature, timestamp, nonce)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise Rejected(403, "bad signature")
    try:
        to_user = parse_fields(body.decode("utf-8")).get("ToUserName")
    except (UnicodeDecodeError, MalformedPushError):
        raise Rejected(400, "malformed push: the envelope does not parse") from None
    chosen = next((c for c in candidates if c.original_id == to_user), None)
    if chosen is None:
        raise Rejected(403, f"push for another account ({str(to_user)[:40]!r})")
    return chosen


async def read_capped(request: Request, max_body: int) -> bytes:
    """The request body, refusing more than ``max_body`` bytes whatever Content-Length says.

    Raises:
        Rejected: 400 for a malformed Content-Length, 413 beyond the cap.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Rejected(400, "malformed Content-Length")
        # The length check first: int() refuses strings of over 4300 digits.
        if len(declared) > 12 or int(declared) > max_body:
            raise Rejected(413, f"Content-Length {declared[:20]} over {max_body} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a lying or chunked sender cannot make us buffer more
        size += len(chunk)
        chunks.append(chunk)
        if size > max_body:
            request.state.body_sample = b"".join(chunks)[:SAMPLE_BYTES]
            raise Rejected(413, f"body over {max_body} bytes")
    body = b"".join(chunks)
    request.state.body_sample = body[:SAMPLE_BYTES]  # for the rejection record
    return body


def build_router(configs: CallbackConfig | Sequence[CallbackConfig], redis: Redis,
                 reply: Replier = no_reply, off_loop: OffLoop | None = None, *,
                 recorder: PushRecorder | None = None) -> APIRouter:
    """The callback's routes, bound to the accounts' configurations (the primary's first;
    one for a lone account), one Redis connection, the threads its calls run in
    (default: an :class:`~webhooks.blocking.OffLoop` of its own) and the counter of its
    pushes (default: one of its own, :class:`~webhooks.metrics.PushRecorder`)."""
    off_loop = off_loop or OffLoop()
    recorder = recorder or PushRecorder(redis)
    configs = (configs,) if isinstance(configs, CallbackConfig) else tuple(configs)
    if not configs:
        raise ValueError("build_router needs at least one CallbackConfig")
    primary = configs[0]  # the window and the body cap are the deployment's, not per account
    router = APIRouter()

    # async: nothing here blocks (a SHA-1 of four short strings); a refusal is recorded by
    # the rejection handler, which runs in the threadpool.
    @router.get(PATH, response_class=PlainTextResponse)
    async def verify_url(request: Request) -> PlainTextResponse:
        """WeChat's server-configuration check: echo ``echostr`` when signed by us.

        No timestamp window here: WeChat sends this once when the URL is saved, and
        replaying it only returns the caller's own ``echostr``.
        """
        q = request.query_params
        signature, timestamp, nonce = q.get("signature"), q.get("timestamp"), q.get("nonce")
        # Every account's server URL may be this one: any account's token will do. A list,
        # not a generator: every token is checked, so timing does not tell which matched.
        if not any([check_signature(c.token, signature, timestamp, nonce) for c in configs]):
            raise Rejected(403, "URL verification with a bad signature")
        echostr = q.get("echostr")
        if echostr is None:
            raise Rejected(400, "URL verification without echostr")
        return PlainTextResponse(echostr)

    async def receive_push(request: Request) -> Response:
        """Accept one push: verify, open, enqueue once, answer ``success``; count it by
        outcome with its time (``/metrics``), off the answer's path.

        The hot path, so a bare Starlette endpoint (no dependency injection): about half
        a millisecond of CPU on the event loop, then the two round trips to Redis in a
        thread (:class:`~webhooks.blocking.OffLoop`), so a Redis that hangs never stalls
        the other requests, and this one is answered 503 within the deadline.
        """
        started = time.perf_counter()
        try:
            response, outcome = await handle_push(request)
        except Rejected as exc:
            recorder.record(rejected_outcome(exc), time.perf_counter() - started)
            raise
        if outcome is not None:  # None: Redis is away, and so would be the count
            recorder.record(outcome, time.perf_counter() - started)
        return response

    async def handle_push(request: Request) -> tuple[Response, str | None]:
        body = await read_capped(request, primary.max_body)
        query = request.query_params
        now = time.time()
        check_fresh(query.get("timestamp"), primary.window, now)
        config = route(configs, query, body)  # a lone account: at once, as before
        fields, message = open_push(config, query, body)
        try:
            event = InboundEvent.from_fields(fields)
        except ValueError as exc:
            raise Rejected(400, f"malformed push: {exc}") from None
        if config.original_id and event.account != config.original_id:
            raise Rejected(403, f"push for another account ({event.account[:40]!r})")
        def queue_and_reply() -> tuple[bool, str | None]:
            queued = enqueue_inbound(redis, event)  # False (a resend): one job per key
            return queued, reply(event, message)  # only once queued: a reply promises it

        try:
            queued, xml = await off_loop(queue_and_reply)
        except (RedisError, TimeoutError) as exc:
            log.error("Redis unavailable, push %s not queued (WeChat will resend): %s",
                      event.dedupe_key, str(exc) or "no answer within the deadline")
            return PlainTextResponse("try again", status_code=503), None
        outcome = "accepted" if queued else "duplicate"
        if xml is None:
            return PlainTextResponse(SUCCESS), outcome
        if config.cipher is not None:
            xml = config.cipher.encrypt_reply(xml, query.get("nonce", ""), int(now))
        return Response(xml, media_type="application/xml"), outcome

    router.add_route(PATH, receive_push, methods=["POST"])
    return router
