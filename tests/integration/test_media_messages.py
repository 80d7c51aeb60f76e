"""Media in the conversation: followers' images, voice and videos become interactions
with their media ids (through the real callback and worker); the WeChat sandbox's
media/upload keeps WeChat's limits and errcodes (driven through wechatpy by the
gateway); an agent's customer-service request with an image link is fetched, uploaded
as temporary media and sent as an image message inside the window."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from connector.errors import FatalError
from connector.messaging import windows
from connector.messaging.run import run_request
from connector.wechat.media import Image
from sandbox.server import serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
INTERACTION = "WeChat_Interaction__c"


def interactions(bridge, openid: str) -> dict[str, dict]:
    follower = next(r["Id"] for r in bridge.box.salesforce.records("WeChat_Follower__c")
                    if r.get("OpenId__c") == openid)
    return {r["Kind__c"]: r for r in bridge.box.salesforce.records(INTERACTION)
            if r.get("Follower__c") == follower}


def test_images_voice_and_videos_are_recorded_with_their_media_ids(bridge):
    wx = bridge.box.wechat
    follower = bridge.box.population.openids()[0]
    image = wx.image(follower)
    voice = wx.voice(follower, recognition="什么时候发货")
    video = wx.video(follower)
    for push in (image, voice, video):
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()

    rows = interactions(bridge, follower)
    assert rows["message:image"]["Media_Id__c"] == image.get("MediaId")
    assert rows["message:image"]["Url__c"] == image.get("PicUrl")
    assert (rows["message:voice"]["Media_Id__c"], rows["message:voice"]["Media_Format__c"],
            rows["message:voice"]["Content__c"]) == (voice.get("MediaId"), "amr",
                                                     "什么时候发货")
    assert (rows["message:video"]["Media_Id__c"],
            rows["message:video"]["Thumb_Media_Id__c"]) == (video.get("MediaId"),
                                                            video.get("ThumbMediaId"))
    # the ids name media WeChat keeps (an agent fetches them with media/get)
    assert all(wx.media.get(push.get("MediaId")) is not None for push in (image, voice, video))


def upload(gateway, media_type: str, filename: str, data: bytes | None):
    """media/upload through wechatpy, as the gateway makes every call."""
    files = {} if data is None else {"media": (filename, data, "application/octet-stream")}
    return gateway._call(lambda client: client.post(
        "media/upload", params={"type": media_type}, files=files or None,
        data={} if data is None else None))


@pytest.mark.parametrize(("media_type", "filename", "data", "errcode"), [
    ("file", "a.png", PNG, "40004"),                       # not a media type
    ("image", "", None, "41005"),                          # no media field
    ("image", "a.png", b"", "40006"),                      # empty
    ("image", "a.txt", PNG, "40005"),                      # a name of no image format
    ("image", "a.png", b"hello, not a picture", "40005"),  # content of no image format
    ("image", "a.png", PNG + b"\0" * (10 * 1024 * 1024), "40009"),  # over 10 MB
    ("thumb", "t.jpg", b"\xff\xd8\xff" + b"\0" * (64 * 1024), "40012"),  # over 64 KB
])
def test_the_sandbox_refuses_uploads_as_wechat_does(bridge, media_type, filename, data,
                                                    errcode):
    gateway = bridge.context.wechat.for_account(bridge.box.wechat.original_id)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the errcode is checked below
        upload(gateway, media_type, filename, data)
    assert getattr(caught.value, "code", None) == errcode, caught.value


def test_an_uploaded_image_lives_three_days(bridge):
    wx = bridge.box.wechat
    gateway = bridge.context.wechat.for_account(wx.original_id)
    media_id = gateway.upload_image(Image(PNG, "png", "image/png"))
    kept = wx.media.get(media_id)
    assert kept is not None and kept.type == "image" and kept.data == PNG


@pytest.fixture
def image_host(bridge):
    """An https server (the sandbox's certificate) serving a PNG, a text file and a
    picture over 10 MB: where an agent's image links point."""
    app = FastAPI()
    app.get("/shop.png")(lambda: Response(PNG, media_type="image/png"))
    app.get("/notes.txt")(lambda: Response(b"just text", media_type="text/plain"))
    app.get("/huge.png")(lambda: Response(PNG + b"\0" * (10 * 1024 * 1024),
                                          media_type="image/png"))
    server = serve(app, tls=bridge.box.tls)
    yield server.url
    server.stop()


def service_request(bridge, openid: str, **fields) -> str:
    sf = bridge.box.salesforce
    follower = sf.seed("WeChat_Follower__c", OpenId__c=openid, Subscribed__c=True,
                       Account_Id__c=bridge.box.wechat.original_id)
    return sf.seed("WeChat_Message__c", Status__c="Requested", Channel__c="customer_service",
                   Target__c="follower", Follower__c=follower, **fields)


def status_of(bridge, message_id: str) -> dict:
    return next(r for r in bridge.box.salesforce.records("WeChat_Message__c")
                if r["Id"] == message_id)


def test_an_agent_s_image_is_uploaded_and_sent_inside_the_window(bridge, image_host):
    wx = bridge.box.wechat
    writer = bridge.box.population.openids()[3]
    push = wx.text(writer, "Can I see the shop front?")
    windows.record(bridge.redis, wx.original_id, writer, "text", push.create_time)
    message = service_request(bridge, writer, Image_Url__c=f"{image_host}/shop.png")

    run_request(bridge.context, message)

    (sent,) = [m for m in wx.sent_messages if m.kind == "custom"]
    assert sent.to == (writer,) and sent.msgtype == "image"
    media = wx.media.get(sent.body["image"]["media_id"])
    assert media is not None and media.data == PNG and media.openid is None  # uploaded
    assert wx.api_calls["/cgi-bin/media/upload"] == 1
    assert status_of(bridge, message)["Sent__c"] == 1


@pytest.mark.parametrize(("path", "why"), [("notes.txt", "is not a PNG, JPEG or GIF"),
                                           ("huge.png", "over WeChat's 10 MB")])
def test_a_bad_image_fails_the_request_with_the_reason_and_no_upload(bridge, image_host,
                                                                     path, why):
    wx = bridge.box.wechat
    writer = bridge.box.population.openids()[4]
    windows.record(bridge.redis, wx.original_id, writer, "text", int(time.time()))
    message = service_request(bridge, writer, Image_Url__c=f"{image_host}/{path}")

    with pytest.raises(FatalError, match=why):  # the job fails with the request's error
        run_request(bridge.context, message)

    assert status_of(bridge, message)["Status__c"] == "Failed"
    assert why in (status_of(bridge, message).get("Error__c") or "")
    assert wx.api_calls["/cgi-bin/media/upload"] == 0
    assert [m for m in wx.sent_messages if m.kind == "custom"] == []


def test_an_image_message_naming_unknown_media_is_refused(bridge):
    wx = bridge.box.wechat
    writer = bridge.box.population.openids()[5]
    windows.record(bridge.redis, wx.original_id, writer, "text", int(time.time()))
    wx.text(writer, "hello")  # WeChat's side of the window
    gateway = bridge.context.wechat.for_account(wx.original_id)
    with pytest.raises(FatalError) as caught:
        gateway.send_custom(writer, {"msgtype": "image", "image": {"media_id": "not-uploaded"}})
    assert caught.value.code == "40007"
    assert [m for m in wx.sent_messages if m.kind == "custom"] == []
