"""Delivering pushes to a callback URL the way WeChat's servers do.

:class:`CallbackSender` signs (and in safe/compatible mode encrypts) a push once, POSTs
it, waits up to ``timeout`` seconds (WeChat: 5) and, when no answer or a non-200 answer
comes, resends the very same request (same query, same body) up to ``resends`` more
times (WeChat: 3). The bridge must therefore deduplicate. :meth:`CallbackSender.storm`
delivers one push many times at once on purpose.

Wire format (safe mode)::

    POST <url>?signature=..&timestamp=..&nonce=..&openid=..&encrypt_type=aes&msg_signature=..
    Content-Type: text/xml
    <xml><ToUserName><![CDATA[gh_..]]></ToUserName><Encrypt><![CDATA[..]]></Encrypt></xml>

Compatible mode sends the plaintext fields and ``<Encrypt>`` in one body; plain mode
sends the plaintext XML with only ``signature``/``timestamp``/``nonce``/``openid``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from sandbox.wechat import crypto
from sandbox.wechat.pushes import Push, render
from sandbox.wechat.replies import PassiveReply, ReplyError, ReplyReader, parse_reply

logger = logging.getLogger(__name__)

MODES = ("safe", "compatible", "plain")
HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}


@dataclass(frozen=True)
class PreparedPush:
    """One signed request, reused byte for byte by every resend."""

    openid: str
    query: dict[str, str]
    body: str
    plaintext: str


@dataclass(frozen=True)
class Delivery:
    """The outcome of delivering one push (all its attempts).

    ``status`` and ``body`` are those of the last attempt (``status`` None: no answer in
    time or no connection). ``acknowledged``: WeChat considers the push handled (HTTP 200
    with ``''``, ``success`` or a valid passive reply). ``reply`` is the reply's
    plaintext XML, decrypted if it came encrypted; ``problem`` says why an answer was not
    acknowledged.
    """

    attempts: int
    status: int | None
    body: str
    acknowledged: bool
    reply: str | None = None
    statuses: tuple[int | None, ...] = ()
    problem: str | None = None

    @property
    def passive(self) -> PassiveReply | None:
        """The passive reply, parsed (a text or articles); None when WeChat got none."""
        return parse_reply(self.reply) if self.reply else None


class CallbackSender:
    """WeChat's side of one Official Account's callback URL.

    Raises (constructor):
        ValueError: unknown mode, or safe/compatible mode without an EncodingAESKey.
        crypto.CryptoError: a malformed EncodingAESKey.
    """

    def __init__(self, url: str, *, token: str, app_id: str, original_id: str,
                 encoding_aes_key: str | None = None, mode: str = "safe",
                 timeout: float = 5.0, clock: Callable[[], float] = time.time,
                 resends: int = 3, verify: bool | str = True) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode != "plain" and not encoding_aes_key:
            raise ValueError(f"{mode} mode needs an encoding_aes_key")
        self.url, self.token, self.app_id = url, token, app_id
        self.original_id, self.mode = original_id, mode
        self.timeout, self.clock, self.resends = timeout, clock, resends
        self.key = crypto.aes_key(encoding_aes_key) if encoding_aes_key else None
        self.replies = ReplyReader(token=token, app_id=app_id, original_id=original_id,
                                   mode=mode, key=self.key)
        self._client = httpx.Client(timeout=timeout, verify=verify)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CallbackSender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- building ----------------------------------------------------------------------

    def prepare(self, push: Push, *, timestamp: str | None = None, nonce: str | None = None,
                random16: bytes | None = None) -> PreparedPush:
        """Sign and (per mode) encrypt ``push``; the optional values pin the randomness."""
        plaintext = push.xml(self.original_id)
        timestamp = timestamp or str(int(self.clock()))
        nonce = nonce or crypto.nonce_digits()
        query = {"signature": crypto.signature(self.token, timestamp, nonce),
                 "timestamp": timestamp, "nonce": nonce, "openid": push.openid}
        if self.mode == "plain":
            return PreparedPush(push.openid, query, plaintext, plaintext)
        encrypted = crypto.encrypt(self.key, plaintext, self.app_id, random16)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = crypto.msg_signature(self.token, timestamp, nonce, encrypted)
        if self.mode == "safe":
            body = render([("ToUserName", self.original_id), ("Encrypt", encrypted)])
        else:
            body = render([*push.items(self.original_id), ("Encrypt", encrypted)])
        return PreparedPush(push.openid, query, body, plaintext)

    # -- sending -----------------------------------------------------------------------

    def deliver(self, push: Push) -> Delivery:
        """Prepare ``push`` and send it with WeChat's resend policy."""
        return self.send(self.prepare(push))

    def send(self, prepared: PreparedPush) -> Delivery:
        """POST ``prepared``; resend it unchanged while there is no 200 answer."""
        statuses: list[int | None] = []
        body, problem = "", None
        for _ in range(1 + self.resends):
            try:
                response = self._client.post(self.url, params=prepared.query,
                                             content=prepared.body.encode("utf-8"),
                                             headers=HEADERS)
            except httpx.TransportError as exc:  # timeouts included: "no answer"
                statuses.append(None)
                body, problem = "", f"no answer: {type(exc).__name__}"
                logger.debug("push to %s: %s", self.url, problem)
                continue
            statuses.append(response.status_code)
            body = response.text
            if response.status_code == 200:
                return self._judge(prepared, body, tuple(statuses))
            problem = f"HTTP {response.status_code}"
        return Delivery(len(statuses), statuses[-1], body, False, None, tuple(statuses), problem)

    def _judge(self, prepared: PreparedPush, body: str,
               statuses: tuple[int | None, ...]) -> Delivery:
        if body in ("", "success"):
            return Delivery(len(statuses), 200, body, True, None, statuses)
        try:
            reply = self.replies.read(body, openid=prepared.openid)
        except ReplyError as exc:
            return Delivery(len(statuses), 200, body, False, None, statuses, str(exc))
        return Delivery(len(statuses), 200, body, True, reply, statuses)

    def storm(self, push: Push, times: int) -> list[Delivery]:
        """Deliver the same prepared push ``times`` times at once, from as many threads.

        Each copy follows the resend policy on its own, as parallel WeChat frontends do.
        """
        prepared = self.prepare(push)
        start = threading.Barrier(times)

        def one(_: int) -> Delivery:
            start.wait()
            return self.send(prepared)

        with ThreadPoolExecutor(max_workers=times) as pool:
            return list(pool.map(one, range(times)))

    def verify_url(self, echostr: str | None = None) -> Delivery:
        """WeChat's URL check: a signed GET that must answer ``echostr`` verbatim."""
        echostr = echostr or crypto.nonce_digits() + crypto.nonce_digits()
        timestamp, nonce = str(int(self.clock())), crypto.nonce_digits()
        query = {"signature": crypto.signature(self.token, timestamp, nonce),
                 "echostr": echostr, "timestamp": timestamp, "nonce": nonce}
        try:
            response = self._client.get(self.url, params=query)
        except httpx.TransportError as exc:
            return Delivery(1, None, "", False, None, (None,), f"no answer: {exc!r}")
        ok = response.status_code == 200 and response.text == echostr
        return Delivery(1, response.status_code, response.text, ok, None,
                        (response.status_code,), None if ok else "echostr not echoed")
