"""The ``follow_ups:`` section of the mapping file: automatic follow-up messages.

A rule turns an event into one message to its follower after a delay::

    follow_ups:
      - name: credit-card
        trigger: { kind: click, key: CREDIT_CARD }   # or keyword / scan / follow
        delay: 10 minutes                            # seconds, minutes, hours
        text: "Thanks for looking at our card! Reply 1 to talk to an adviser."
        template:                                    # when no service window is open
          id: TEMPLATE_ID_FROM_THE_WECHAT_CONSOLE
          url: https://example.com/card
          data:
            first:    { value: "Your card application" }
            keyword1: { person: FirstName }          # the follower's Lead or Contact
            keyword2: { source: follower.remark }
        unless:                                      # read on the person when it is due
          - { object: Lead, field: IsConverted, equals: true }

``text`` goes as a customer-service message, which WeChat allows only while the follower's
window is open (48 hours after a message from them; 1 minute after a follow, scan or
menu click); when none is open, ``template`` (if given) goes instead, else nothing (the
follow-up is recorded as skipped). A rule with only ``template`` always sends it.

Pure: no I/O. The worker's side is ``connector/followups/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from mappings.reply_section import TEXT_LIMIT_BYTES
from mappings.rules import FieldUse, Strict, check_link
from mappings.vocabulary import ApiName, check_source

TRIGGER_KINDS = ("click", "keyword", "scan", "follow")
# A customer-service message needs an open window, and the longest is 48 hours after
# the follower's last message: a text follow-up due later could never be sent.
SERVICE_MAX_SECONDS = 48 * 3600
# A template-only follow-up may wait longer; its marker (connector/followups/store.py)
# is kept 30 days, so a replay of the triggering event within them schedules nothing.
TEMPLATE_MAX_SECONDS = 7 * 86_400
MIN_SECONDS = 1
UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1,
         "m": 60, "min": 60, "minute": 60, "minutes": 60,
         "h": 3600, "hour": 3600, "hours": 3600}
_DELAY = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
KEY_BYTES = 128  # WeChat's limit for a click button's key


def parse_delay(value: Any) -> int:
    """``30 seconds``, ``10 minutes``, ``2 hours`` (or ``s``/``min``/``h``), or a whole
    number of seconds → seconds.

    Raises:
        ValueError: anything else, with the forms that are understood.
    """
    if isinstance(value, bool):
        raise ValueError(f"delay {value!r} is not a duration")
    if isinstance(value, int):
        return value
    match = _DELAY.match(str(value).lower())
    if not match or match.group(2) not in UNITS:
        raise ValueError(f"delay {value!r} is not a duration — write e.g. '90 seconds', "
                         "'10 minutes' or '2 hours'")
    return int(match.group(1)) * UNITS[match.group(2)]


class Trigger(Strict):
    """What starts a follow-up.

    - ``click``: a click on the menu button whose ``key`` is given;
    - ``keyword``: a text message whose content equals (``match: exact``, the default,
      ignoring case and surrounding spaces) or contains (``match: contains``) ``text``;
    - ``scan``: a scan of a campaign's code (also one that follows the account);
      ``campaign``: the scene's key (the Campaign Id, or the value of the Campaign field
      of ``campaigns.resolve``); without it, any campaign's;
    - ``follow``: a follow; ``campaign`` as for ``scan`` (without it, any follow).
    """

    kind: Literal["click", "keyword", "scan", "follow"]
    key: str | None = None
    text: str | None = None
    match: Literal["exact", "contains"] = "exact"
    campaign: str | None = None

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> Trigger:
        given = {k for k in ("key", "text", "campaign") if getattr(self, k) is not None}
        needs = {"click": {"key"}, "keyword": {"text"}, "scan": set(), "follow": set()}
        allowed = {"click": {"key"}, "keyword": {"text"}, "scan": {"campaign"},
                   "follow": {"campaign"}}
        missing = needs[self.kind] - given
        if missing:
            what = {"key": "the menu button's key (its 'key' in the menu)",
                    "text": "the keyword's text"}[next(iter(missing))]
            raise ValueError(f"a {self.kind} trigger needs {next(iter(missing))}: {what}")
        extra = given - allowed[self.kind]
        if extra:
            raise ValueError(f"a {self.kind} trigger takes no {', '.join(sorted(extra))} — "
                             f"remove it (it takes: {', '.join(sorted(allowed[self.kind]))})")
        if "match" in self.model_fields_set and self.kind != "keyword":
            raise ValueError("match applies to keyword triggers only — remove it")
        if self.key is not None and not 0 < len(self.key.encode("utf-8")) <= KEY_BYTES:
            raise ValueError(f"the menu key is {len(self.key.encode('utf-8'))} bytes; WeChat "
                             f"takes 1 to {KEY_BYTES}")
        if self.text is not None and not self.text.strip():
            raise ValueError("the keyword's text is blank — write the word to match")
        return self


class TemplateValue(Strict):
    """One template data item: a constant ``value``, a follower ``source``
    (``follower.remark``...) or a ``person`` field (of the follower's Lead or Contact,
    read when the follow-up is due); ``color`` optional (``#173177``)."""

    value: str | None = None
    source: Annotated[str, AfterValidator(check_source)] | None = None
    person: ApiName | None = None
    color: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$")

    @model_validator(mode="after")
    def _one(self) -> TemplateValue:
        given = [k for k in ("value", "source", "person") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, source or person")
        if self.source is not None and not self.source.startswith("follower."):
            raise ValueError(f"source {self.source!r}: a follow-up is sent later, without "
                             "its event — use a follower.* source, a person field or a value")
        return self


def _constant(value: Any) -> Any:
    """A bare string in ``data:`` is a constant value."""
    return {"value": value} if isinstance(value, str) else value


class TemplateMessage(Strict):
    """``template:``: the template's ``id`` (WeChat console, My templates), an optional
    ``url`` and its ``data`` (keyword → :class:`TemplateValue` or a constant string)."""

    id: str = Field(min_length=1)
    url: str | None = None
    data: dict[str, Annotated[TemplateValue, BeforeValidator(_constant)]] = Field(
        default_factory=dict)

    _link = field_validator("url")(check_link)


class Condition(Strict):
    """``unless:`` item: the follow-up is cancelled when the follower's person on
    ``object`` (its Lead or Contact, through ``follower.link``) has ``field`` equal to
    ``equals``, read when it is due. A follower without such a person passes."""

    object: Literal["Contact", "Lead"]
    field: ApiName
    equals: str | int | float | bool | None


class FollowUpRule(Strict):
    """One rule (see the module's docstring)."""

    name: str
    trigger: Trigger
    delay: Annotated[int, BeforeValidator(parse_delay, json_schema_input_type=int | str)]
    text: str | None = None
    template: TemplateMessage | None = None
    unless: list[Condition] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"name {value!r}: use 1 to 40 letters, digits, - and _ "
                             "(it names the follow-up in records and commands)")
        return value

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            size = len(value.encode("utf-8"))
            if not value.strip():
                raise ValueError("the text is blank — write it, or remove text")
            if size > TEXT_LIMIT_BYTES:
                raise ValueError(f"the text is {size} bytes; WeChat shows at most "
                                 f"{TEXT_LIMIT_BYTES} — shorten it")
        return value

    @model_validator(mode="after")
    def _content_and_delay(self) -> FollowUpRule:
        if self.text is None and self.template is None:
            raise ValueError(f"follow-up {self.name!r} sends nothing — give text (a "
                             "customer-service message) and/or template")
        limit, why = (SERVICE_MAX_SECONDS, "a customer-service message needs a window "
                      "open, 48 hours at most after the follower's last message") \
            if self.text is not None else (TEMPLATE_MAX_SECONDS, "a template follow-up "
                                           "waits at most 7 days")
        if not MIN_SECONDS <= self.delay <= limit:
            raise ValueError(f"delay of follow-up {self.name!r} is {self.delay} seconds; "
                             f"{why} — use {MIN_SECONDS} to {limit} seconds")
        return self

    def person_fields(self) -> dict[str, list[str]]:
        """The person fields read when it is due, per object (conditions; template data
        reads the follower's person, whichever object it is)."""
        fields: dict[str, list[str]] = {}
        for condition in self.unless:
            fields.setdefault(condition.object, []).append(condition.field)
        for item in (self.template.data.values() if self.template else ()):
            if item.person:
                for obj in ("Contact", "Lead"):
                    fields.setdefault(obj, []).append(item.person)
        return {obj: list(dict.fromkeys(names)) for obj, names in fields.items()}


def check_rules(rules: list[FollowUpRule]) -> list[FollowUpRule]:
    """Names are unique (a follow-up's id is made from its rule's name)."""
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"two follow-ups are named {rule.name!r} — give each its own "
                             "name")
        seen.add(rule.name)
    return rules


FollowUps = Annotated[list[FollowUpRule], AfterValidator(check_rules)]


def field_uses(rules: list[FollowUpRule], linked: Iterable[str] = ("Contact", "Lead"),
               ) -> list[FieldUse]:
    """The person fields the rules read, for the checks against the org: a template's
    ``person`` field on each object ``linked`` (``follower.link``), since it is read on
    whichever the follower has."""
    linked = [obj for obj in ("Contact", "Lead") if obj in set(linked)]
    uses = []
    for i, rule in enumerate(rules):
        uses += [FieldUse(("follow_ups", i, "unless", j, "field"), c.object, c.field, "read")
                 for j, c in enumerate(rule.unless)]
        for key, item in (rule.template.data.items() if rule.template else ()):
            if item.person:
                uses += [FieldUse(("follow_ups", i, "template", "data", key, "person"), obj,
                                  item.person, "read") for obj in linked]
    return uses
