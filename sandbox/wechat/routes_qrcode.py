"""``cgi-bin/showqrcode?ticket=``: a QR code's image, by the ticket ``qrcode/create`` gave.

On WeChat this is served by ``mp.weixin.qq.com`` (no access token); the sandbox serves it
on its own address, which ``WECHAT_QR_IMAGE_BASE_URL`` points the bridge at. The image is
a real QR code of the code's ``url`` (drawn with segno), about the 430 pixels WeChat's
are; as WeChat documents it, a ticket it does not know (or an expired temporary code's)
gets HTTP 404.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import segno
from fastapi import APIRouter
from fastapi.responses import Response

from sandbox.wechat.outbox import Outbox

IMAGE_PIXELS = 430
BORDER = 4  # modules of quiet zone, as the QR standard asks


def qr_png(content: str) -> bytes:
    """A PNG of a QR code encoding ``content``, about :data:`IMAGE_PIXELS` wide."""
    code = segno.make(content, error="m")
    width = code.symbol_size(scale=1, border=BORDER)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, IMAGE_PIXELS // width), border=BORDER)
    return out.getvalue()


def qrcode_router(outbox: Outbox, clock: Callable[[], float]) -> APIRouter:
    router = APIRouter(prefix="/cgi-bin")

    @router.get("/showqrcode")
    def showqrcode(ticket: str = "") -> Response:
        now = clock()
        code = next((c for c in outbox.qrcodes() if c.ticket == ticket), None)
        if code is None or code.expired(now):
            return Response(status_code=404)
        return Response(qr_png(code.url), media_type="image/png",
                        headers={"Cache-Control": "max-age=2592000"})

    return router
