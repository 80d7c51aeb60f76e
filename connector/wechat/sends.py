"""Messages to followers (a mixin of :class:`~connector.wechat.gateway.WeChatGateway`;
``self._call`` runs one wechatpy call with the shared token and translated errors).

Whether a message may be sent at all (WeChat's windows and quotas) is decided before,
by the caller; these verbs only send and report WeChat's answer as the bridge's errors.
Bodies are built here, not by wechatpy 1.8.18: its template send has no
``client_msg_id`` and its send-by-tag still names the tag ``group_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wechatpy.exceptions import WeChatClientException

from connector.errors import FatalError

MASS_MIN, MASS_MAX = 2, 10_000  # message/mass/send takes 2 to 10,000 openids
CLIENT_MSG_ID_MAX = 64  # bytes, for clientmsgid (45067 beyond)
DUPLICATE_MASS = 45065  # "clientmsgid exist": the answer carries the earlier job's msg_id


@dataclass(frozen=True)
class MassSent:
    """A submitted mass-message job: ``msg_id`` (what MASSSENDJOBFINISH reports),
    ``msg_data_id`` (for article statistics, when WeChat gives one) and ``duplicate``:
    True when WeChat already had a job with this ``clientmsgid`` (45065) and sent nothing
    new — ``msg_id`` is then that earlier job's."""

    msg_id: str
    msg_data_id: str | None = None
    duplicate: bool = False


def _post_keeping_duplicate(client: Any, path: str, body: dict) -> dict:
    """POST a mass send; a 45065 answer is returned (marked), not raised: it means the
    job was submitted before, which is what a resend wants to know."""
    try:
        return client.post(path, data=body)
    except WeChatClientException as exc:
        if exc.errcode is None or int(exc.errcode) != DUPLICATE_MASS:
            raise
        try:
            data = exc.response.json() if exc.response is not None else {}
        except ValueError:
            data = {}
        return {**data, "_duplicate": True}


def _mass_sent(answer: dict) -> MassSent:
    # WeChat names the earlier job "msgid" in its 45065 description, msg_id elsewhere.
    msg_id = answer.get("msg_id", answer.get("msgid"))
    if msg_id is None:
        raise FatalError("WeChat accepted the mass message but sent no msg_id",
                         system="wechat", code="MALFORMED")
    data_id = answer.get("msg_data_id")
    return MassSent(str(msg_id), None if data_id is None else str(data_id),
                    bool(answer.get("_duplicate")))


def _check_client_msg_id(value: str | None) -> None:
    if value is not None and len(value.encode()) > CLIENT_MSG_ID_MAX:
        raise FatalError(f"clientmsgid {value!r} is longer than {CLIENT_MSG_ID_MAX} bytes",
                         system="bridge", code="CLIENT_MSG_ID")


class MessageVerbs:
    """``message/custom/send``, ``message/template/send``, the mass sends, and the
    followers of a tag (the audience of a message to a tag)."""

    def send_custom(self, openid: str, message: dict[str, Any]) -> None:
        """A customer-service message: ``message`` is the body without ``touser``, e.g.
        ``{"msgtype": "text", "text": {"content": "..."}}`` or ``{"msgtype": "news",
        "news": {"articles": [...]}}``.

        Raises:
            SkippableError: the follower unfollowed (43004), is outside the windows
                (45015) or the window's messages are used (45047).
            RetriableError, FatalError: as the gateway's other verbs.
        """
        body = {"touser": openid, **message}
        self._call(lambda client: client.post("message/custom/send", data=body))

    def send_template(self, openid: str, template_id: str, data: dict[str, Any],
                      url: str | None = None, *, client_msg_id: str | None = None) -> str:
        """A template message; returns WeChat's ``msgid`` (what TEMPLATESENDJOBFINISH
        reports). ``data`` maps each template key to ``{"value": ..., "color"?: ...}``.
        ``client_msg_id``: WeChat sends one message per (openid, client_msg_id) within
        10 minutes, so a resend after a lost answer delivers nothing twice.

        Raises:
            SkippableError: the follower unfollowed (43004) or turned the account's
                template messages off (43101).
            FatalError: WeChat refused the template or the data (40037, 47001...), or
                answered an errcode the bridge does not know (``scope_of`` says whom
                each concerns).
            RetriableError: as the gateway's other verbs.
        """
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        # with client_msg_id WeChat sends once per (openid, id) within 10 minutes
        answer = self._call(lambda client: client.post("message/template/send", data=body),
                            repeatable=client_msg_id is not None)
        msgid = (answer or {}).get("msgid")
        if msgid is None:
            raise FatalError("WeChat accepted the template message but sent no msgid",
                             system="wechat", code="MALFORMED")
        return str(msgid)

    def send_mass(self, openids: Sequence[str], message: dict[str, Any], *,
                  client_msg_id: str) -> MassSent:
        """A mass message to 2..10,000 followers by OpenID (``message/mass/send``);
        ``message`` is the body without ``touser``, e.g. ``{"msgtype": "text", "text":
        {"content": "..."}}``. ``client_msg_id`` (at most 64 bytes) makes a resend of the
        same job a no-op that returns the first job's msg_id.

        WeChat counts each follower's mass messages itself and silently leaves out those
        over their quota (the job-finish event's FilterCount tells how many).

        Raises:
            FatalError: fewer than 2 or more than 10,000 openids, a bad message.
            RetriableError: 45066 (same clientmsgid retried within a minute), and as
                the gateway's other verbs; RateLimitedError 45028 (no mass quota left).
        """
        if not MASS_MIN <= len(openids) <= MASS_MAX:
            raise FatalError(f"a mass message by OpenID goes to {MASS_MIN} to {MASS_MAX} "
                             f"followers, not {len(openids)}", system="bridge",
                             code="MASS_SIZE")
        _check_client_msg_id(client_msg_id)
        body = {"touser": list(openids), **message, "clientmsgid": client_msg_id}
        return _mass_sent(self._call(
            lambda client: _post_keeping_duplicate(client, "message/mass/send", body),
            repeatable=True))  # a repeat of the clientmsgid is 45065 (or 45066), not a send

    def send_mass_to_tag(self, tag_id: int, message: dict[str, Any], *,
                         client_msg_id: str | None = None) -> MassSent:
        """A mass message to every follower with the tag ``tag_id``
        (``message/mass/sendall``, ``filter.tag_id``). WeChat applies each follower's
        quota itself; the bridge cannot check it first, so its message job sends by
        OpenID (:meth:`send_mass`) instead.

        Raises:
            SkippableError: an unknown tag (45159).
            FatalError: a bad message; otherwise as :meth:`send_mass`.
        """
        _check_client_msg_id(client_msg_id)
        body: dict[str, Any] = {"filter": {"is_to_all": False, "tag_id": int(tag_id)},
                                **message}
        if client_msg_id:
            body["clientmsgid"] = client_msg_id
        return _mass_sent(self._call(
            lambda client: _post_keeping_duplicate(client, "message/mass/sendall", body),
            repeatable=client_msg_id is not None))

    def tag_members(self, tag_id: int) -> list[str]:
        """The OpenIDs of the current followers with the tag ``tag_id`` (``user/tag/get``,
        up to 10,000 per call, paged until WeChat answers an empty ``next_openid``).

        Raises:
            SkippableError: an unknown tag (45159).
            RetriableError, FatalError: as the gateway's other verbs.
        """
        openids: list[str] = []
        after: str | None = None
        while True:
            page = self._call(lambda client, after=after: client.tag.get_tag_users(
                int(tag_id), after), repeatable=True)
            found = ((page or {}).get("data") or {}).get("openid") or []
            openids.extend(found)
            after = (page or {}).get("next_openid")
            # WeChat names the page's last OpenID as next_openid even on the last page,
            # and answers the call after it with count 0 and next_openid "": only that
            # ends the list (https://developers.weixin.qq.com/doc/service/api/usermanage/
            # tag/api_gettagfans). A short page is not the end: pages need not be full.
            if not found or not after:
                return openids
