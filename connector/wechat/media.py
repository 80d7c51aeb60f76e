"""Temporary media (a mixin of :class:`~connector.wechat.gateway.WeChatGateway`):
an image fetched from a link and uploaded with ``media/upload``, for an agent's
customer-service image message.

WeChat's limits for a temporary image (https://developers.weixin.qq.com/doc/service/api/
material/temporary/api_uploadtempmedia): at most 10 MB, PNG, JPEG/JPG or GIF; the
media_id it returns lives 3 days. The bridge checks both before uploading, so an
agent's bad image is refused with a message naming what is wrong, without a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from connector.errors import FatalError
from connector.wechat.errors import transport_error

IMAGE_MAX_BYTES = 10 * 1024 * 1024
MEDIA_LIFETIME = 3 * 86_400  # seconds WeChat keeps temporary media
# Leading bytes of each format WeChat takes for an image, and the name it is uploaded as
# (WeChat judges the type by the file name's extension too).
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png", "image/png"),
               (b"\xff\xd8\xff", "jpg", "image/jpeg"),
               (b"GIF87a", "gif", "image/gif"), (b"GIF89a", "gif", "image/gif"))


@dataclass(frozen=True)
class Image:
    """Image bytes of a format WeChat takes: ``extension`` and ``content_type``."""

    data: bytes
    extension: str
    content_type: str


def image_of(data: bytes, where: str) -> Image:
    """``data`` as an image WeChat takes. ``where`` names its origin in messages.

    Raises:
        FatalError (code ``IMAGE``): empty, over 10 MB, or not a PNG, JPEG or GIF.
    """
    if not data:
        raise FatalError(f"the image at {where} is empty", system="bridge", code="IMAGE")
    if len(data) > IMAGE_MAX_BYTES:
        raise FatalError(f"the image at {where} is over WeChat's 10 MB for an image — "
                         "make it smaller", system="bridge", code="IMAGE")
    for signature, extension, content_type in _SIGNATURES:
        if data.startswith(signature):
            return Image(data, extension, content_type)
    raise FatalError(f"{where} is not a PNG, JPEG or GIF image (WeChat takes no other) — "
                     "link to the image file itself", system="bridge", code="IMAGE")


class MediaVerbs:
    """``media/upload`` of an image, and fetching the image from a link."""

    _http: requests.Session
    _timeout: float
    _call: Any  # the gateway's: one wechatpy call with the shared token

    def fetch_image(self, url: str) -> Image:
        """The image at ``url`` (https only), read up to WeChat's 10 MB and checked.

        Raises:
            FatalError: not an https link, an HTTP error status, or not an image WeChat
                takes (code ``IMAGE``); RetriableError: the link did not answer.
        """
        if not url.lower().startswith("https://"):
            raise FatalError(f"the image link {url!r} is not https:// — use the file's "
                             "https link", system="bridge", code="IMAGE")
        try:
            with self._http.get(url, stream=True, timeout=self._timeout) as response:
                if response.status_code != 200:
                    raise FatalError(f"the image link {url} answered HTTP "
                                     f"{response.status_code}", system="bridge",
                                     code="IMAGE")
                data = b""
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > IMAGE_MAX_BYTES:
                        break  # image_of refuses it; the rest is not read
        except requests.RequestException as exc:
            raise transport_error(exc) from None
        return image_of(data, url)

    def upload_image(self, image: Image) -> str:
        """Upload ``image`` as temporary media (3 days); its media_id.

        Raises:
            FatalError: WeChat refused the file (40004, 40005, 40006, 40009, 41005);
            BridgeError: as every call.
        """
        media = (f"image.{image.extension}", image.data, image.content_type)
        answer = self._call(lambda client: client.media.upload("image", media))
        media_id = answer.get("media_id") if isinstance(answer, dict) else None
        if not media_id:
            raise FatalError("WeChat accepted the image but sent no media_id",
                             system="wechat", code="MALFORMED")
        return str(media_id)
