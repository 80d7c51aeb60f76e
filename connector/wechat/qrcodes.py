"""WeChat QR code verbs of :class:`~connector.wechat.gateway.WeChatGateway` (a mixin:
``self._call`` runs one wechatpy call with the shared token and translated errors).

A parametric code is made in two steps, as WeChat documents them: ``qrcode/create``
gives a *ticket* (and the ``url`` the code encodes), and the image is fetched by the
ticket from ``<image base>cgi-bin/showqrcode?ticket=<quoted ticket>`` (no access token;
the base is ``WECHAT_QR_IMAGE_BASE_URL``, WeChat's ``https://mp.weixin.qq.com/`` unless
the sandbox's). Codes are made with string scenes only: permanent ``QR_LIMIT_STR_SCENE``
(at most 100,000 per account, never expiring) or temporary ``QR_STR_SCENE`` (up to 30
days).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import requests

from connector.errors import FatalError, RetriableError
from connector.in_call import AttemptFailed, run
from connector.wechat.errors import classify_http, transport_error
from connector.wechat.retrying import Failure, decide, request_failure

log = logging.getLogger(__name__)

MAX_EXPIRE_SECONDS = 2_592_000  # 30 days: WeChat's longest temporary code
MAX_SCENE = 64  # characters of a scene_str
SHOWQRCODE = "cgi-bin/showqrcode"
# The images WeChat serves (JPEG) and the sandbox serves (PNG), by their first bytes.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


@dataclass(frozen=True)
class QrTicket:
    """What ``qrcode/create`` answered: ``ticket``, ``url`` (the content the code
    encodes), ``expire_seconds`` (None for a permanent code), and ``image_url``, where
    the code's image is served."""

    ticket: str
    url: str
    expire_seconds: int | None
    image_url: str


def image_url(ticket: str, base: str) -> str:
    """``<base>cgi-bin/showqrcode?ticket=<ticket, URL-quoted>`` (tickets hold ``/``,
    ``+`` and ``=``, all quoted)."""
    return f"{base}{SHOWQRCODE}?ticket={quote(ticket, safe='')}"


def qrcode_body(scene: str, expire_seconds: int | None) -> dict[str, Any]:
    """The ``qrcode/create`` body: permanent without ``expire_seconds``, else temporary.

    Raises:
        ValueError: the scene is empty or longer than 64 characters, or the lifetime is
            not 1 second to 30 days.
    """
    if not isinstance(scene, str) or not 1 <= len(scene) <= MAX_SCENE:
        raise ValueError(f"a QR scene is 1 to {MAX_SCENE} characters, got {scene!r}")
    info = {"scene": {"scene_str": scene}}
    if expire_seconds is None:
        return {"action_name": "QR_LIMIT_STR_SCENE", "action_info": info}
    if not 1 <= expire_seconds <= MAX_EXPIRE_SECONDS:
        raise ValueError(f"a temporary QR code lives 1 to {MAX_EXPIRE_SECONDS} seconds "
                         f"(30 days), got {expire_seconds}")
    return {"expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
            "action_info": info}


class QrCodeVerbs:
    """``qrcode/create`` and the code's image."""

    def create_qrcode(self, scene: str, *, expire_seconds: int | None = None) -> QrTicket:
        """A code for ``scene``: permanent when ``expire_seconds`` is None, otherwise
        temporary for that many seconds (at most 2,592,000, 30 days).

        WeChat answers the same permanent scene with the same code: a new code needs a
        new scene.

        Raises:
            ValueError: a scene or lifetime WeChat would refuse (checked before calling).
            FatalError: WeChat refused the code (45029: the 100,000 permanent codes are
                used up; 40053: a scene it does not accept), or answered without a ticket.
            RetriableError: network trouble, WeChat busy, a quota hit.
        """
        body = qrcode_body(scene, expire_seconds)
        # the same permanent scene gives the same code; a second temporary code is harmless
        data = self._call(lambda client: client.qrcode.create(body), repeatable=True)
        ticket = data.get("ticket") if isinstance(data, dict) else None
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(ticket, str) or not ticket or not isinstance(url, str):
            raise FatalError("WeChat's qrcode/create answer has no ticket or url",
                             system="wechat", code="MALFORMED")
        # The lifetime WeChat granted (it answers expire_seconds for temporary codes only).
        lifetime = (None if expire_seconds is None
                    else int(data.get("expire_seconds") or expire_seconds))
        return QrTicket(ticket=ticket, url=url, expire_seconds=lifetime,
                        image_url=self.qrcode_image_url(ticket))

    def qrcode_image_url(self, ticket: str) -> str:
        """Where the image of the code with ``ticket`` is served."""
        return image_url(ticket, self._qr_image_base)

    def download_qrcode(self, ticket: str) -> bytes:
        """The code's image as WeChat serves it (JPEG from WeChat, PNG from the sandbox).

        Raises:
            FatalError: no image for this ticket (404: a wrong ticket, or an expired
                temporary code), or an answer that is not an image.
            RetriableError: network trouble or a 5xx.
        """
        url = self.qrcode_image_url(ticket)

        def attempt() -> requests.Response:
            self._count()
            failed: AttemptFailed | None = None
            try:
                response = self._http.get(url, timeout=self._timeout)
            except requests.RequestException as exc:
                failed = AttemptFailed(transport_error(exc), request_failure(exc))
            if failed is not None:
                raise failed
            if response.status_code >= 500:
                raise AttemptFailed(classify_http(response.status_code),
                                    Failure("answered", status=response.status_code))
            return response

        # a read: tried again within the call as connector.wechat.retrying decides
        response = run(attempt, decide=partial(decide, repeatable=True),
                       what=f"wechat {self._app_id} QR code image", log=log,
                       pacing=self._pacing)
        if response.status_code == 404:
            raise FatalError("WeChat has no QR code image for this ticket: the ticket is "
                             "wrong or the temporary code expired — make the code again",
                             system="wechat", status=404, code="HTTP_404")
        if response.status_code >= 400:
            raise classify_http(response.status_code)
        image = response.content
        if not image.startswith(IMAGE_SIGNATURES):
            raise RetriableError("WeChat's QR code image answer is not an image",
                                 system="wechat", status=response.status_code,
                                 code="MALFORMED")
        return image
