"""Messages from Salesforce, decided without I/O: a request record → :class:`MessageRequest`,
its recipients → an :class:`Outcome` each (sent, skipped with the reason, failed).

A run (:mod:`.run`) reads the request and its audience, asks Redis for what
was sent before, for quotas (:mod:`.quotas`) and windows
(:mod:`.windows`), calls WeChat, and uses the functions here for every
decision in between, so each rule is testable with plain data:

- :func:`screen`: duplicates, recipients without a follower, followers who left, and
  those already sent to (a rerun sends nobody twice);
- :func:`quota_skips`, :func:`window_skip`, :func:`error_outcome`: skips and failures
  with their reasons;
- :func:`mass_batches`, :func:`mass_client_msg_id`, :func:`template_client_msg_id`: how
  sends are cut and keyed, so WeChat itself drops a resend.

A reason starts with its code (:data:`REASONS`), then says why in words:
``quota: 4 mass messages a month (service account, months in Beijing time) already
received``. Recipient rows and the job-finish reports are in
:mod:`connector.messaging.records`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from connector.errors import BridgeError, FatalError, SkippableError
from connector.messaging.windows import Spent
from mappings.messages_section import CHANNELS, TARGETS, RequestFields

Status = Literal["sent", "skipped", "failed", "delivered"]

UNFOLLOWED, QUOTA, WINDOW_CLOSED, WINDOW_USED = ("unfollowed", "quota", "window closed",
                                                 "window used up")
NO_FOLLOWER, DUPLICATE, TOO_FEW, INTERRUPTED = ("no follower", "duplicate", "too few",
                                                "interrupted")
REFUSED = "refused"  # the follower turned the account's template messages off (43101)
REASONS = (UNFOLLOWED, QUOTA, WINDOW_CLOSED, WINDOW_USED, NO_FOLLOWER, DUPLICATE, TOO_FEW,
           INTERRUPTED, REFUSED)
# WeChat's per-recipient errcodes that have a reason of their own.
_ERRCODE_REASONS = {"43004": UNFOLLOWED, "45015": WINDOW_CLOSED, "45047": WINDOW_USED,
                    "43101": REFUSED}
REASON_LENGTH = 255  # the recipient's Reason__c
MASS_MAX = 10_000


class RequestError(FatalError):
    """A request the bridge cannot send as it is; the message names the field and the
    fix, and is written to the request's error field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, system="bridge", code="MESSAGE_REQUEST",
                         fields=[field] if field else [])


def _text(record: dict[str, Any], field: str | None) -> str | None:
    value = record.get(field) if field else None
    if value is None:
        return None
    value = str(value).strip()
    return value or None


@dataclass(frozen=True)
class MessageRequest:
    """One message request, checked: ``channel`` in :data:`CHANNELS`, ``target`` in
    :data:`TARGETS`, and what they need present (``data``: the template's keys mapped
    to ``{"value": ...}``)."""

    id: str
    channel: str
    target: str
    follower_id: str | None = None
    campaign_id: str | None = None
    tag: str | None = None
    template_id: str | None = None
    content: str | None = None
    data: dict[str, Any] | None = None
    url: str | None = None
    media_id: str | None = None
    account: str | None = None
    image_url: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any], fields: RequestFields) -> MessageRequest:
        """Read and check a request record (the fields ``fields`` names).

        Raises:
            RequestError: a value is missing or wrong; the message names the field.
        """
        f = fields
        channel, target = _text(record, f.channel), _text(record, f.target)
        if channel not in CHANNELS:
            raise RequestError(f"{f.channel} is {channel!r}; choose one of "
                               f"{', '.join(CHANNELS)}", f.channel)
        if target not in TARGETS:
            raise RequestError(f"{f.target} is {target!r}; choose one of "
                               f"{', '.join(TARGETS)}", f.target)
        request = cls(
            id=str(record["Id"]), channel=channel, target=target,
            follower_id=_text(record, f.follower), campaign_id=_text(record, f.campaign),
            tag=_text(record, f.tag), template_id=_text(record, f.template_id),
            content=_text(record, f.content), url=_text(record, f.url),
            media_id=_text(record, f.media_id), account=_text(record, f.account),
            image_url=_text(record, f.image_url),
            data=_template_data(_text(record, f.data), f.data) if channel == "template"
            else None)
        needed = {"follower": (request.follower_id, f.follower, "the follower record"),
                  "campaign": (request.campaign_id, f.campaign, "the campaign"),
                  "tag": (request.tag, f.tag, "the WeChat tag's name")}[target]
        if needed[0] is None:
            raise RequestError(f"{f.target} is {target} but {needed[1]} is blank; set it to "
                               f"{needed[2]}", needed[1])
        if channel == "template" and request.template_id is None:
            raise RequestError(f"a template message needs {f.template_id}: the template's "
                               "id from the WeChat console (My templates)", f.template_id)
        if channel == "customer_service" and request.image_url is not None:
            if request.content is not None:
                raise RequestError(f"a customer-service message is a text ({f.content}) or an "
                                   f"image ({f.image_url}), not both — make a request for "
                                   "each", f.image_url or f.content)
        elif channel == "customer_service" and request.content is None:
            raise RequestError(f"a customer-service message needs its text in {f.content}"
                               + (f" or an image's https link in {f.image_url}"
                                  if f.image_url else ""), f.content)
        if channel != "customer_service" and request.image_url is not None:
            raise RequestError(f"{f.image_url} is for customer-service messages only; "
                               f"{channel} messages cannot carry an uploaded image",
                               f.image_url or f.channel)
        if channel == "mass" and request.content is None and request.media_id is None:
            raise RequestError(f"a mass message needs its text in {f.content} or an "
                               f"article's media_id in {f.media_id}", f.content)
        return request

    def body(self, image_media_id: str | None = None) -> dict[str, Any]:
        """The customer-service or mass message body, without recipients: a text, an
        image (a customer-service message with ``image_media_id``: its uploaded image),
        or (mass with a media id) an article."""
        if image_media_id is not None:
            return {"msgtype": "image", "image": {"media_id": image_media_id}}
        if self.channel == "mass" and self.media_id:
            return {"msgtype": "mpnews", "mpnews": {"media_id": self.media_id},
                    "send_ignore_reprint": 0}
        return {"msgtype": "text", "text": {"content": self.content or ""}}


def _template_data(raw: str | None, field: str) -> dict[str, Any]:
    """``{"key": "text"}`` or ``{"key": {"value": "text", "color": "#173177"}}`` → the
    template API's ``{"key": {"value": ..., "color"?: ...}}``."""
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RequestError(f"{field} is not valid JSON ({exc}); write the template data as "
                           'a JSON object, e.g. {"first": "Hello", "keyword1": "Order 42"}',
                           field) from None
    if not isinstance(data, dict):
        raise RequestError(f"{field} must be a JSON object of template keys, e.g. "
                           '{"first": "Hello"}', field)
    shaped: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if "value" not in value:
                raise RequestError(f"{field}: {key} needs a \"value\", e.g. "
                                   f'{{"{key}": {{"value": "...", "color": "#173177"}}}}',
                                   field)
            shaped[key] = {k: (str(v) if k == "value" else v) for k, v in value.items()
                           if k in ("value", "color")}
        else:
            shaped[key] = {"value": "" if value is None else str(value)}
    return shaped


@dataclass(frozen=True)
class Recipient:
    """Someone a request reaches: a follower (``openid``; ``follower_id`` when a
    follower record exists), or a campaign member's person without one (``openid``
    None). ``subscribed`` None: unknown. ``account``: the follower's account, when
    known (windows are kept per account)."""

    openid: str | None
    follower_id: str | None = None
    contact_id: str | None = None
    lead_id: str | None = None
    subscribed: bool | None = None
    account: str | None = None

    def key(self, message_id: str) -> str:
        """The recipient record's upsert key: the request Id, ``:`` and the OpenID (the
        person's Id when there is none)."""
        return f"{message_id}:{self.openid or self.contact_id or self.lead_id}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient: ``sent`` (``msg_id`` WeChat's), ``skipped`` or
    ``failed`` with ``reason``, or ``delivered`` (WeChat's job-finish report)."""

    recipient: Recipient
    status: Status
    reason: str | None = None
    msg_id: str | None = None
    sent_at: float | None = None


def reason(code: str, detail: str | None = None) -> str:
    """``code: detail``, cut to the recipient field's length."""
    text = f"{code}: {detail}" if detail else code
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"


def screen(recipients: Iterable[Recipient], done: set[str],
           ) -> tuple[list[Recipient], list[Outcome]]:
    """The recipients to try, and the outcomes decided before any send.

    In order: a follower reached twice (a person who is both a Lead and a Contact, two
    members sharing a follower) is tried once, the later ones skipped as duplicates;
    people without a follower are skipped; followers known to have left are skipped;
    openids in ``done`` (sent before: this is a rerun) are neither tried nor recorded
    again.
    """
    seen: set[str] = set()
    tried: list[Recipient] = []
    decided: list[Outcome] = []
    for recipient in recipients:
        openid = recipient.openid
        if openid is None:
            decided.append(Outcome(recipient, "skipped", reason(
                NO_FOLLOWER, "no WeChat follower is linked to this person")))
        elif openid in seen:
            decided.append(Outcome(recipient, "skipped", reason(
                DUPLICATE, f"{openid} is reached through another member already")))
        elif openid in done:
            seen.add(openid)
        elif recipient.subscribed is False:
            seen.add(openid)
            decided.append(Outcome(recipient, "skipped", reason(
                UNFOLLOWED, "the follower left the account")))
        else:
            seen.add(openid)
            tried.append(recipient)
    return tried, decided


def quota_skips(recipients: Sequence[Recipient], denied: Iterable[str],
                limit_words: str) -> list[Outcome]:
    """Skips for the followers whose mass-message quota is used (``denied``)."""
    out = set(denied)
    return [Outcome(r, "skipped", reason(QUOTA, f"{limit_words} already received"))
            for r in recipients if r.openid in out]


def window_skip(recipient: Recipient, spent: Spent) -> Outcome:
    """The skip of a customer-service message that no open window allows."""
    code = WINDOW_USED if "no messages left" in (spent.reason or "") else WINDOW_CLOSED
    return Outcome(recipient, "skipped", reason(code, spent.reason))


def error_outcome(recipient: Recipient, error: BridgeError) -> Outcome:
    """A recipient WeChat refused: skipped when the follower is the reason (left,
    window closed or used, unknown OpenID), else failed; the reason carries WeChat's
    code and words."""
    detail = f"WeChat {error.code}: {error.message}" if error.code else error.message
    if isinstance(error, SkippableError):
        return Outcome(recipient, "skipped",
                       reason(_ERRCODE_REASONS.get(error.code or "", "wechat"), detail))
    return Outcome(recipient, "failed", reason("wechat", detail))


def mass_batches(openids: Sequence[str], size: int = MASS_MAX) -> list[list[str]]:
    """``openids`` in as few sends as WeChat allows (``size`` each), evenly cut so no
    send goes to a lone follower (a mass message by OpenID needs at least 2)."""
    total = len(openids)
    if total == 0:
        return []
    count = -(-total // size)
    base, extra = divmod(total, count)
    batches, start = [], 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        batches.append(list(openids[start:end]))
        start = end
    return batches


def mass_client_msg_id(message_id: str, openids: Iterable[str]) -> str:
    """The ``clientmsgid`` of one mass send: the request and a digest of its recipients,
    so resending the same batch is refused by WeChat (45065) while a later send of the
    same request to new members is not. 52 characters (WeChat allows 64 bytes)."""
    digest = hashlib.sha256("\n".join(sorted(openids)).encode()).hexdigest()[:32]
    return f"{message_id}-{digest}"[:64]


def template_client_msg_id(message_id: str, openid: str) -> str:
    """The ``client_msg_id`` of one template message: WeChat sends one message per
    (openid, client_msg_id) within 10 minutes, whatever the bridge resends."""
    return f"{message_id}:{openid}"


def single_mass_skip(recipient: Recipient) -> Outcome:
    """The lone allowed follower of a mass message: WeChat's mass send by OpenID needs
    two, so it is skipped (its quota is given back)."""
    return Outcome(recipient, "skipped", reason(
        TOO_FEW, "WeChat sends a mass message to at least 2 followers; send a template or "
        "customer-service message to one follower"))


def interrupted(recipient: Recipient, channel: str) -> Outcome:
    """A send claimed by an earlier run that stopped before WeChat answered: not sent
    again (WeChat may have sent it), recorded as failed."""
    return Outcome(recipient, "failed", reason(
        INTERRUPTED, f"an earlier run stopped while sending this {channel} message; it "
        "may or may not have arrived, so it is not sent again"))
