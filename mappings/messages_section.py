"""The ``messages:`` section of the mapping file.

Messages from Salesforce: the object a message request is a record of (``request``), the
object each of its recipients is recorded in (``recipient``), and how a campaign's
members lead to followers (``audience``). Every key has a default: the objects and
fields the shipped metadata (``salesforce/force-app``) deploys, so a mapping without
``messages:`` sends with them. An admin who named the fields differently sets only the
keys that differ. Pure: no I/O.

The bridge writes the picklist values it uses (``CHANNELS``, ``TARGETS``,
``REQUEST_STATUSES``, ``RECIPIENT_STATUSES``) exactly; the org check probes each of them
against the picklists of the org.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mappings.rules import FieldRule, FieldUse, Strict
from mappings.vocabulary import ApiName

CHANNELS = ("template", "customer_service", "mass")
TARGETS = ("follower", "campaign", "tag")
REQUEST_STATUSES = ("Requested", "Sending", "Done", "Failed")
RECIPIENT_STATUSES = ("sent", "skipped", "failed", "delivered")


class RequestFields(Strict):
    """``messages.request``: the message request object and its fields.

    Read by the bridge: ``channel``, ``target``, ``follower``, ``campaign``, ``tag``,
    ``template_id``, ``content``, ``data``, ``url``, ``media_id``, ``image_url`` (a
    customer-service message's image: an https link), ``account``, ``send``.
    Written by it: ``status``, ``send`` (cleared when sending starts), the counts
    ``sent``, ``skipped``, ``failed``, ``delivered``, and ``error``. ``account`` may be
    null (every request is the primary account's).
    """

    object: ApiName = "WeChat_Message__c"
    channel: ApiName = "Channel__c"
    target: ApiName = "Target__c"
    follower: ApiName = "Follower__c"
    campaign: ApiName = "Campaign__c"
    tag: ApiName = "Tag__c"
    template_id: ApiName = "Template_Id__c"
    content: ApiName = "Content__c"
    data: ApiName = "Data__c"
    url: ApiName = "Url__c"
    media_id: ApiName = "Media_Id__c"
    image_url: ApiName | None = "Image_Url__c"
    account: ApiName | None = "Account_Id__c"
    status: ApiName = "Status__c"
    send: ApiName = "Send__c"
    sent: ApiName = "Sent__c"
    skipped: ApiName = "Skipped__c"
    failed: ApiName = "Failed__c"
    delivered: ApiName = "Delivered__c"
    error: ApiName = "Error__c"

    def read_fields(self) -> list[str]:
        """Every field of the request the bridge selects, ``Id`` first."""
        names = ["Id", self.channel, self.target, self.follower, self.campaign, self.tag,
                 self.template_id, self.content, self.data, self.url, self.media_id,
                 self.image_url, self.account, self.status, self.send, self.delivered]
        return list(dict.fromkeys(n for n in names if n))


class RecipientFields(Strict):
    """``messages.recipient``: one record per recipient of a request, upserted by
    ``key`` (the request's Id, ``:`` and the OpenID). ``contact`` and ``lead`` (lookups
    to the campaign member's person) may be null."""

    object: ApiName = "WeChat_Message_Recipient__c"
    message: ApiName = "Message__c"
    follower: ApiName = "Follower__c"
    contact: ApiName | None = "Contact__c"
    lead: ApiName | None = "Lead__c"
    openid: ApiName = "OpenId__c"
    key: ApiName = "Key__c"
    status: ApiName = "Status__c"
    reason: ApiName = "Reason__c"
    msg_id: ApiName = "WeChat_Msg_Id__c"
    sent_at: ApiName = "Sent_At__c"


class AudienceFields(Strict):
    """``messages.audience``: how recipients are found.

    A campaign's members are Leads and Contacts; each reaches its followers through the
    lookups of ``follower.link``, or, when no follower record points at it, through the
    person's own OpenID field ``person_openid`` (null: not used). On the follower object,
    ``subscribed`` (a checkbox; null: unknown, WeChat decides) skips followers who
    left, and ``account`` (the account's original id; null: one account) keeps the
    followers of the account that sends.
    """

    person_openid: ApiName | None = "WeChat_OpenId__c"
    subscribed: ApiName | None = "Subscribed__c"
    account: ApiName | None = "Account_Id__c"


class MessagesSection(Strict):
    """``messages:``: ``request``, ``recipient`` and ``audience``, each with defaults."""

    request: RequestFields = Field(default_factory=RequestFields)
    recipient: RecipientFields = Field(default_factory=RecipientFields)
    audience: AudienceFields = Field(default_factory=AudienceFields)

    @model_validator(mode="after")
    def _distinct(self) -> MessagesSection:
        for name, part in (("request", self.request), ("recipient", self.recipient)):
            keys: dict[str, list[str]] = {}
            for key, field in part:
                if key != "object" and field is not None:
                    keys.setdefault(field, []).append(f"{name}.{key}")
            for field, shared in keys.items():
                if len(shared) > 1:
                    raise ValueError(f"{' and '.join(shared)} both name {field} — each "
                                     "needs a field of its own")
        return self

    def field_uses(self, follower_object: str = "WeChat_Follower__c") -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org.

        Picklist values the bridge writes are probed as constants (``write`` with a
        rule), so a value missing from the org's picklist is reported at its key; other
        written fields are checked as writable (``write`` without a rule), read fields as
        visible (``read``); the recipient's ``key`` as an upsert key.
        """
        req, rec, aud = self.request, self.recipient, self.audience
        uses: list[FieldUse] = []

        def probe(part: str, key: str, obj: str, field: str, values: tuple[str, ...]):
            uses.extend(FieldUse(("messages", part, key), obj, field, "write",
                                 FieldRule(value=value, on="always")) for value in values)

        def plain(part: str, obj: str, keys: tuple[str, ...], use: str):
            for key in keys:
                field = getattr(getattr(self, part), key)
                if field:
                    uses.append(FieldUse(("messages", part, key), obj, field, use))

        probe("request", "channel", req.object, req.channel, CHANNELS)
        probe("request", "target", req.object, req.target, TARGETS)
        probe("request", "status", req.object, req.status, REQUEST_STATUSES)
        probe("request", "send", req.object, req.send, (False,))
        plain("request", req.object, ("follower", "campaign", "tag", "template_id",
                                      "content", "data", "url", "media_id", "image_url",
                                      "account",
                                      "sent", "skipped", "failed", "delivered", "error"),
              "write")
        uses.append(FieldUse(("messages", "recipient", "key"), rec.object, rec.key, "key"))
        probe("recipient", "status", rec.object, rec.status, RECIPIENT_STATUSES)
        uses.append(FieldUse(("messages", "recipient", "openid"), rec.object, rec.openid,
                             "write", FieldRule(source="follower.openid", on="always")))
        uses.append(FieldUse(("messages", "recipient", "msg_id"), rec.object, rec.msg_id,
                             "match"))
        plain("recipient", rec.object, ("message", "follower", "contact", "lead", "reason",
                                        "msg_id", "sent_at"), "write")
        for person in ("Contact", "Lead"):
            if aud.person_openid:
                uses.append(FieldUse(("messages", "audience", "person_openid"), person,
                                     aud.person_openid, "read"))
        plain("audience", follower_object, ("subscribed", "account"), "read")
        return uses
