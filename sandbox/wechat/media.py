"""Temporary media: ``cgi-bin/media/upload`` and the media of followers' messages.

What WeChat documents (https://developers.weixin.qq.com/doc/service/api/material/temporary/
api_uploadtempmedia, "新增临时素材"): ``POST cgi-bin/media/upload?type=TYPE`` with the
file as the form-data field ``media``; types and limits: image 10 MB (PNG, JPEG, JPG,
GIF), voice 2 MB (AMR, MP3; at most 60 s, not checked here), video 10 MB (MP4), thumb
64 KB (JPG); the answer ``{"type", "media_id", "created_at"}``; media are kept 3 days,
then their media_id is invalid. Error codes, as the global return codes page names them
(https://developers.weixin.qq.com/doc/offiaccount/en/Getting_Started/Global_Return_Code.html):
40004 invalid media type (a ``type`` not in the table), 40005 invalid file type (a file
whose name or content is not of the type's formats), 40006 invalid file size (an empty
file), 40009 / 40010 / 40011 / 40012 the type's size exceeded (image, voice, video,
thumb), 41005 media data missing (no ``media`` field), 40007 invalid media_id (a
message naming media unknown or past its 3 days: ``message/custom/send``).

The format is judged from both the file name's extension and the content's leading
bytes (a PNG renamed .jpg passes as an image, a text file renamed .png does not).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ApiError

MB = 1024 * 1024
LIFETIME = 3 * 86_400  # seconds: "媒体文件在微信后台保存时间为3天"
# Bodies beyond this are not read at all (WeChat's front answers such a request itself).
MAX_BODY = 20 * MB


def _png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def _jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff")


def _gif(data: bytes) -> bool:
    return data.startswith((b"GIF87a", b"GIF89a"))


def _amr(data: bytes) -> bool:
    return data.startswith(b"#!AMR")


def _mp3(data: bytes) -> bool:
    return data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


def _mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


@dataclass(frozen=True)
class Kind:
    """One media type: its size limit, the errcode past it, its formats by extension."""

    limit: int
    too_big: int
    formats: dict[str, Callable[[bytes], bool]]


KINDS = {
    "image": Kind(10 * MB, 40009, {"png": _png, "jpeg": _jpeg, "jpg": _jpeg, "gif": _gif}),
    "voice": Kind(2 * MB, 40010, {"amr": _amr, "mp3": _mp3}),
    "video": Kind(10 * MB, 40011, {"mp4": _mp4}),
    "thumb": Kind(64 * 1024, 40012, {"jpg": _jpeg}),
}


@dataclass(frozen=True)
class Media:
    media_id: str
    type: str
    created_at: int
    data: bytes
    filename: str = ""
    openid: str | None = None  # set for media a follower sent


class MediaStore:
    """The account's temporary media, each valid :data:`LIFETIME` seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._media: dict[str, Media] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _new_id(self) -> str:
        # WeChat's media ids are 64-character opaque strings
        return f"sbx{next(self._ids):061d}"

    def upload(self, media_type: str, filename: str, data: bytes | None) -> Media:
        """Check and keep an upload, as ``media/upload`` does.

        Raises: ApiError 40004, 41005, 40006, 40005, 40009..40012 (see the module)."""
        kind = KINDS.get(media_type)
        if kind is None:
            raise ApiError(40004)
        if data is None:
            raise ApiError(41005)
        if not data:
            raise ApiError(40006)
        extension = filename.rpartition(".")[2].lower() if "." in filename else ""
        check = kind.formats.get(extension)
        if check is None or not check(data):
            raise ApiError(40005)
        if len(data) > kind.limit:
            raise ApiError(kind.too_big)
        return self.keep(media_type, data, filename)

    def keep(self, media_type: str, data: bytes, filename: str = "",
             openid: str | None = None) -> Media:
        """Keep media without checks (what a follower's message carries)."""
        with self._lock:
            media = Media(self._new_id(), media_type, int(self.clock()), data, filename,
                          openid)
            self._media[media.media_id] = media
        return media

    def get(self, media_id: object) -> Media | None:
        """The media of ``media_id`` while it lives, else None."""
        media = self._media.get(media_id) if isinstance(media_id, str) else None
        if media is None or self.clock() - media.created_at > LIFETIME:
            return None
        return media

    def uploads(self) -> list[Media]:
        return [m for m in self._media.values() if m.openid is None]


def _form_file(content_type: str, body: bytes, field: str) -> tuple[str, bytes] | None:
    """The ``(filename, content)`` of form-data field ``field``, or None."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode("latin-1")
                                + b"\r\n\r\n" + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field:
            return part.get_filename() or "", part.get_payload(decode=True) or b""
    return None


def media_router(store: MediaStore) -> APIRouter:
    router = APIRouter(prefix="/cgi-bin")

    @router.post("/media/upload")
    async def upload(request: Request, type: str = "") -> dict:  # noqa: A002 - WeChat's name
        if type not in KINDS:
            raise ApiError(40004)
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise ApiError(KINDS[type].too_big)
        body = await request.body()
        found = _form_file(request.headers.get("content-type", ""), body, "media")
        filename, data = found if found is not None else ("", None)
        media = store.upload(type, filename, data)
        return {"type": media.type, "media_id": media.media_id,
                "created_at": media.created_at}

    return router
