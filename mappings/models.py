"""The mapping file's grammar (version 1), as pydantic models.

Every model forbids unknown keys, so a typo in the file is an error that names the key
instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from connector.events import InboundEvent
from connector.follower import Follower
from mappings.transforms import parse_chain

SOURCES = {
    "follower": sorted(f.name for f in dataclass_fields(Follower)),
    "event": sorted([f.name for f in dataclass_fields(InboundEvent) if f.name != "fields"]
                    + ["kind", "dedupe_key", "content", "menu_key", "url", "latitude",
                       "longitude", "label", "email", "phone"]),
    "campaign": ["id"],
}
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_source(value: str) -> str:
    """``root.name`` with a known root and name; suggests the closest name on a typo."""
    root, _, name = value.partition(".")
    if root not in SOURCES:
        raise ValueError(
            f"source {value!r} must start with one of: {', '.join(r + '.' for r in SOURCES)}"
        )
    if name not in SOURCES[root]:
        close = difflib.get_close_matches(name, SOURCES[root], n=1)
        hint = f" — did you mean '{root}.{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown source {value!r}{hint} (known: {', '.join(SOURCES[root])})"
        )
    return value


def check_api_name(value: str) -> str:
    if not API_NAME.match(value):
        raise ValueError(f"{value!r} is not a Salesforce API name (letters, digits, _)")
    return value


ApiName = Annotated[str, AfterValidator(check_api_name)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Conflict policies (HubSpot's sync rules): when an update of a matched person may
# overwrite the value in Salesforce — only if it is blank there, never (written on create
# only), only if the event is newer than the record's LastModifiedDate; ``dont_sync``: the
# bridge never writes the field. Without one, an ``on: always`` value overwrites on every
# event. ``connector/conflicts.py`` decides.
Conflict = Literal["prefer_salesforce_unless_blank", "always_salesforce", "newest",
                   "dont_sync"]

# What the way back (Salesforce → WeChat) can write on a follower.
WECHAT_WRITABLE = ("follower.remark", "follower.tag_names")
TEMPLATE_SLOT = re.compile(r"\{([^{}]*)\}")


class FieldRule(Strict):
    """Where one Salesforce field's value comes from.

    Exactly one of ``source`` (a path such as ``follower.openid``), ``value`` (a
    constant) or ``template`` (text with ``{follower.remark}``-style slots). Then
    ``transform`` (a chain), then ``map`` (value → value). ``default`` is used when the
    result is blank (or not in ``map``). ``on: create`` writes the field only when the
    record is created; ``always`` also on later events. ``sync`` is the direction:
    ``to_salesforce`` (WeChat → Salesforce), ``to_wechat`` (Salesforce → WeChat only:
    the way back sets the follower's remark or tags from the field) or ``both``.
    ``conflict`` (person fields with ``on: always``): when an update may overwrite the
    value already in Salesforce — see :data:`Conflict`; ``dont_sync`` (anywhere): the
    bridge never writes the field, in either direction.
    """

    source: str | None = None
    value: Any = None
    template: str | None = None
    default: Any = None
    transform: str | None = None
    map: dict[str, Any] | None = None
    on: Literal["create", "always"] = "create"
    sync: Literal["to_salesforce", "to_wechat", "both"] = "to_salesforce"
    conflict: Conflict | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys_as_text(cls, value: Any) -> Any:
        # The engine looks values up as text, so YAML's 1 or true must be "1" or "True".
        if isinstance(value, dict):
            return {str(key): item for key, item in value.items()}
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            slots = TEMPLATE_SLOT.findall(value)
            if not slots:
                raise ValueError("a template needs at least one {source} slot")
            for slot in slots:
                check_source(slot.strip())
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else check_source(value)

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        if value is not None:
            parse_chain(value)
        return value

    @model_validator(mode="after")
    def _direction(self) -> FieldRule:
        # WeChat can take only a follower's remark and tags back from Salesforce.
        if self.sync != "to_salesforce" and self.source not in WECHAT_WRITABLE:
            what = "a constant" if self.value is not None else (
                "a template" if self.template is not None else f"'{self.source}'")
            raise ValueError(
                f"sync: {self.sync} sends this field to WeChat, but WeChat can only take a "
                f"remark or tags, and {what} is neither — use source: follower.remark or "
                "source: follower.tag_names, or sync: to_salesforce")
        return self

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        given = [k for k in ("source", "value", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'source', 'value' or 'template'")
        return self


class FollowerSection(Strict):
    object: ApiName
    external_id: ApiName
    link: dict[Literal["Contact", "Lead"], ApiName] = Field(default_factory=dict)
    fields: dict[ApiName, FieldRule] = Field(default_factory=dict)


class MatchRule(Strict):
    """Find the person whose ``object.field`` equals ``source``'s value.

    ``on_many``: which record wins when several carry the value — ``oldest`` (by
    CreatedDate), ``newest``, or ``skip`` (no match for this rule; the next rule is
    tried). ``follow_converted`` (Lead rules, default true): a converted Lead stands for
    the Contact it was converted into.
    """

    object: Literal["Contact", "Lead"]
    field: ApiName
    source: Annotated[str, AfterValidator(check_source)]
    on_many: Literal["oldest", "newest", "skip"] = "oldest"
    follow_converted: bool = True

    @model_validator(mode="after")
    def _converted_on_leads(self) -> MatchRule:
        if self.object != "Lead" and "follow_converted" in self.model_fields_set:
            raise ValueError("follow_converted applies to Lead rules only (a converted Lead "
                             "leads to its Contact) — remove it from this Contact rule")
        return self


class SceneField(Strict):
    """Look the scene up on a Campaign field (e.g. ``WeChat_Scene__c``)."""

    field: ApiName


class CampaignSection(Strict):
    """How a QR scene names a Campaign, and the member status each event gives.

    ``resolve``: ``id`` (the scene after ``scene_prefix`` is the Campaign Id) or
    ``{field: X}`` (the Campaign whose field X equals the scene after the prefix).
    ``progression``: statuses in order; an existing member is moved to a later status,
    never to an earlier one. ``create_missing_statuses``: add the statuses the bridge
    writes to a campaign that lacks them (CampaignMemberStatus).
    """

    scene_prefix: str = "sfc_"
    resolve: Literal["id"] | SceneField = "id"
    status: dict[Literal["subscribe", "scan"], str] = Field(default_factory=dict)
    progression: list[str] = Field(default_factory=list)
    create_missing_statuses: bool = False

    @model_validator(mode="after")
    def _statuses_in_progression(self) -> CampaignSection:
        if len(set(self.progression)) != len(self.progression):
            raise ValueError("progression lists a status twice — list each status once, "
                             "earliest first")
        if self.progression:
            outside = [s for s in self.status.values() if s not in self.progression]
            if outside:
                raise ValueError(
                    f"status {', '.join(map(repr, outside))} is not in progression "
                    f"{self.progression} — add it where it belongs, so the bridge knows "
                    "whether it moves a member forward")
        return self


class EventRule(Strict):
    person: bool = False
    campaign: bool = False
    follower: dict[ApiName, FieldRule] = Field(default_factory=dict)


class CaptureSection(Strict):
    """Events recorded as records of their own (menu clicks, links, messages...).

    Each captured event is upserted into ``object`` by ``external_id``, written from the
    event's dedupe key, so WeChat's resends of one push record it once; ``follower_link``
    is a lookup to the follower record.
    """

    object: ApiName
    external_id: ApiName
    follower_link: ApiName | None = None
    kinds: list[Annotated[str, AfterValidator(lambda kind: check_kind(kind))]] = Field(
        min_length=1)
    fields: dict[ApiName, FieldRule] = Field(default_factory=dict)


@dataclass(frozen=True)
class FieldUse:
    """One place where the mapping names a Salesforce field.

    ``path`` is the key path in the file (for line numbers); ``use`` says what the bridge
    does with the field: ``write`` (a rule gives it a value), ``key`` (upsert by it),
    ``link`` (a lookup to the person), ``match`` (queried to find a person).
    """

    path: tuple[str | int, ...]
    object: str
    field: str
    use: Literal["write", "key", "link", "match"]
    rule: FieldRule | None = None


# The kinds WeChat pushes (events by Event, messages by MsgType), as ``events:`` keys.
EVENT_KINDS = (
    "subscribe", "unsubscribe", "scan", "click", "view", "location", "view_miniprogram",
    "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select", "templatesendjobfinish", "masssendjobfinish",
    "subscribe_msg_popup_event", "text", "image", "voice", "video", "shortvideo", "link",
)


def check_kind(kind: str) -> str:
    """A kind WeChat pushes; a typo gets the closest one."""
    if kind not in EVENT_KINDS:
        close = difflib.get_close_matches(kind, EVENT_KINDS, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown event kind {kind!r}{hint} (known: {', '.join(EVENT_KINDS)})")
    return kind


EventKind = Annotated[str, AfterValidator(check_kind)]


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


class Mapping(Strict):
    """A whole mapping file."""

    version: Literal[1]
    follower: FollowerSection
    match: list[MatchRule] = Field(min_length=1)
    create: Literal["Contact", "Lead"] | None = "Lead"
    objects: dict[Literal["Contact", "Lead"], dict[ApiName, FieldRule]] = Field(
        default_factory=dict
    )
    campaigns: CampaignSection = Field(default_factory=CampaignSection)
    events: dict[EventKind, EventRule] = Field(default_factory=dict)
    capture: CaptureSection | None = None

    def fingerprint(self) -> str:
        """``v1:<12 hex>``: the grammar version and a digest of the mapping's content
        (not its formatting or comments); jobs record it with what they wrote."""
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]
        return f"v{self.version}:{digest}"

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Sections that name each other wrongly, as (key path, message); the loader
        reports them with their lines."""
        problems = []
        looked_up = {rule.object for rule in self.match}
        if self.create and self.create not in looked_up:
            problems.append((("create",), f"create: {self.create} needs a match rule on "
                             f"{self.create} (under match:); its field is the upsert key that "
                             "keeps creation from making duplicates"))
        for obj in self.follower.link:
            if obj not in looked_up:
                problems.append((("follower", "link", obj), f"follower.link names {obj}, "
                                 f"which no match rule looks up — add a match rule on {obj} "
                                 "or remove the link"))
        return problems + self._conflict_problems()

    def _conflict_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """``conflict`` decides whether an update overwrites a matched person's value, so
        (but for ``dont_sync``) it needs a person field updated on matches: ``on: always``
        under ``objects``."""
        problems = []
        for use in self.field_uses():
            rule = use.rule
            if use.use != "write" or rule.conflict in (None, "dont_sync"):
                continue
            name, where = _dotted(use.path), use.path + ("conflict",)
            if use.path[0] != "objects":
                problems.append((where, f"{name}: conflict: {rule.conflict} applies only to "
                                 "person fields (objects.Lead, objects.Contact) with on: "
                                 "always; this record is upserted on every event — remove "
                                 "conflict, or use conflict: dont_sync to stop writing it"))
            elif rule.on != "always":
                problems.append((where, f"{name}: conflict: {rule.conflict} decides whether "
                                 f"an update overwrites {use.object}.{use.field}, but with "
                                 "on: create it is written only when the bridge creates the "
                                 "record — add on: always, or remove conflict"))
        return problems

    def field_uses(self) -> list[FieldUse]:
        """Every Salesforce field the mapping names, for checks against the org's describe."""
        follower = self.follower
        uses = [FieldUse(("follower", "external_id"), follower.object, follower.external_id,
                         "key")]
        uses += [FieldUse(("follower", "link", obj), follower.object, fld, "link")
                 for obj, fld in follower.link.items()]
        uses += [FieldUse(("follower", "fields", fld), follower.object, fld, "write", rule)
                 for fld, rule in follower.fields.items()]
        for kind, event_rule in self.events.items():
            uses += [FieldUse(("events", kind, "follower", fld), follower.object, fld, "write",
                              rule) for fld, rule in event_rule.follower.items()]
        uses += [FieldUse(("match", i, "field"), m.object, m.field, "match")
                 for i, m in enumerate(self.match)]
        for obj, rules in self.objects.items():
            uses += [FieldUse(("objects", obj, fld), obj, fld, "write", rule)
                     for fld, rule in rules.items()]
        if self.capture is not None:
            cap = self.capture
            uses.append(FieldUse(("capture", "external_id"), cap.object, cap.external_id,
                                 "key"))
            if cap.follower_link:
                uses.append(FieldUse(("capture", "follower_link"), cap.object,
                                     cap.follower_link, "link"))
            uses += [FieldUse(("capture", "fields", fld), cap.object, fld, "write", rule)
                     for fld, rule in cap.fields.items()]
        return uses

    def create_key(self) -> MatchRule | None:
        """The match rule whose field is the upsert key for created records."""
        return next((r for r in self.match if r.object == self.create), None)
