"""The mapping file's grammar (version 1), as pydantic models.

Every model forbids unknown keys, so a typo in the file is an error that names the key
instead of a silently ignored setting. The vocabulary (sources, API names, event kinds)
is in :mod:`mappings.vocabulary`, re-exported here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    model_validator,
)

from mappings.follow_ups_section import FollowUps
from mappings.follow_ups_section import field_uses as follow_up_uses
from mappings.lifecycle import LifecycleSection
from mappings.menu_section import MenuSection
from mappings.messages_section import MessagesSection
from mappings.qr_section import QrSection
from mappings.reply_section import RepliesSection
from mappings.rules import (  # noqa: F401 - re-exported
    ORIGINS,
    TEMPLATE_SLOT,
    WECHAT_WRITABLE,
    Conflict,
    FieldRule,
    FieldUse,
    Strict,
)
from mappings.salesforce_rules_section import SalesforceRulesSection
from mappings.vocabulary import (  # noqa: F401 - re-exported
    EVENT_KINDS,
    SOURCES,
    ApiName,
    EventKind,
    check_api_name,
    check_kind,
    check_source,
)
from mappings.way_back_section import WayBackSection


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


# What a CampaignMember field can hold of a person's touches of the campaign: the first
# and latest scan or follow (datetimes), the number of scans and follows, and the channel
# (of a channel code; blank for the campaign's own code) of the first and the latest.
TOUCH_VALUES = ("first_touch", "last_touch", "scans", "first_channel", "last_channel")
TouchValue = Literal["first_touch", "last_touch", "scans", "first_channel", "last_channel"]


class SceneField(Strict):
    """Look the scene up on a Campaign field (e.g. ``WeChat_Scene__c``)."""

    field: ApiName


class CampaignSection(Strict):
    """How a QR scene names a Campaign, and the member status each event gives.

    ``resolve``: ``id`` (the scene after ``scene_prefix`` is the Campaign Id) or
    ``{field: X}`` (the Campaign whose field X equals the scene after the prefix).
    ``progression``: statuses in order; an existing member is moved to a later status,
    never to an earlier one. ``create_missing_statuses``: add the statuses the bridge
    writes to a campaign that lacks them (CampaignMemberStatus). ``member_fields``:
    CampaignMember fields the bridge keeps, each from one of :data:`TOUCH_VALUES` (the
    person's touches of the campaign, every scan and follow so far, counted once each).
    """

    scene_prefix: str = "sfc_"
    resolve: Literal["id"] | SceneField = "id"
    status: dict[Literal["subscribe", "scan"], str] = Field(default_factory=dict)
    progression: list[str] = Field(default_factory=list)
    create_missing_statuses: bool = False
    member_fields: dict[ApiName, TouchValue] = Field(default_factory=dict)

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
    """What an event kind does: ``person`` (find or create the follower's person),
    ``campaign`` (make the person a member of the scene's campaign), ``follower`` (more
    follower fields), ``erase`` (follower fields emptied — an unfollow's privacy mode:
    WeChat's rules ask to delete an unfollower's data; the OpenID, links and campaign
    history stay, so counts stay right)."""

    person: bool = False
    campaign: bool = False
    follower: dict[ApiName, FieldRule] = Field(default_factory=dict)
    erase: list[ApiName] = Field(default_factory=list)


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


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


ORIGINAL_ID = re.compile(r"^gh_[0-9a-f]{12}$")


def check_original_id(value: str) -> str:
    if not ORIGINAL_ID.match(value):
        raise ValueError(f"{value!r} is not an account's original id (gh_ followed by 12 "
                         "hex characters, its WECHAT_ORIGINAL_ID or WECHAT_ACCOUNTS entry)")
    return value


class AccountMapping(Strict):
    """One account's overrides under ``accounts:``. Each section given replaces the
    top-level one wholesale for that account's events (no merging inside a section);
    the sections not given are the top-level ones, shared by every account."""

    follower: FollowerSection | None = None
    match: list[MatchRule] | None = Field(default=None, min_length=1)
    create: Literal["Contact", "Lead"] | None = None
    objects: dict[Literal["Contact", "Lead"], dict[ApiName, FieldRule]] | None = None
    campaigns: CampaignSection | None = None
    events: dict[EventKind, EventRule] | None = None
    capture: CaptureSection | None = None
    menu: MenuSection | None = None


class Mapping(Strict):
    """A whole mapping file.

    ``accounts`` (several Official Accounts): per original id, sections replacing the
    top-level ones; :meth:`for_account` gives the mapping an account's events use.
    """

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
    qr: QrSection = Field(default_factory=QrSection)
    replies: RepliesSection = Field(default_factory=RepliesSection)
    way_back: WayBackSection = Field(default_factory=WayBackSection)
    messages: MessagesSection = Field(default_factory=MessagesSection)
    lifecycle: LifecycleSection | None = None
    # The account's custom menu (``connector menu publish``); None: the bridge leaves the
    # menu alone.
    menu: MenuSection | None = None
    # Automatic follow-ups (mappings/follow_ups_section.py), shared by every account.
    follow_ups: FollowUps = Field(default_factory=list)
    # Shared by every account: one collection call carries the writes of many accounts.
    salesforce_rules: SalesforceRulesSection = Field(default_factory=SalesforceRulesSection)
    accounts: dict[Annotated[str, AfterValidator(check_original_id)], AccountMapping] = Field(
        default_factory=dict)
    # The effective mapping of each account in ``accounts``, built once (for_account is
    # called per event).
    _effective: dict[str, Mapping] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for original_id, overrides in self.accounts.items():
            # The sections given (an explicit null too: ``capture: null`` drops capture).
            given = {key: getattr(overrides, key) for key in overrides.model_fields_set}
            effective = self.model_copy(update={**given, "accounts": {}})
            effective._effective = {}  # model_copy shares the private state: not ours
            self._effective[original_id] = effective

    def for_account(self, original_id: str | None) -> Mapping:
        """The mapping for events of the account ``original_id``: its ``accounts:``
        sections over the top-level ones, or this mapping when it has none."""
        return self._effective.get(original_id, self) if original_id else self

    def account_mappings(self) -> dict[str | None, Mapping]:
        """Every distinct mapping in use: the top-level one (key None), then each
        account's, for checks that must cover them all."""
        return {None: self, **self._effective}

    def fingerprint(self) -> str:
        """``v1:<12 hex>``: the grammar version and a digest of what the file sets (not
        its formatting, comments or defaults: a key the grammar gains later leaves the
        fingerprint of an unchanged file as it was); jobs record it with what they wrote."""
        content = self.model_dump_json(exclude_defaults=True)
        digest = hashlib.sha256(content.encode()).hexdigest()
        return f"v{self.version}:{digest[:12]}"

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
        for kind, event_rule in self.events.items():
            kept = {self.follower.external_id, *self.follower.link.values()}
            for i, fld in enumerate(event_rule.erase):
                if fld in kept:
                    problems.append((("events", kind, "erase", i), f"{fld} cannot be erased: "
                                     "the follower's key and person links keep its campaign "
                                     "history countable — remove it from erase"))
        problems += self.qr.reference_problems(self.campaigns.scene_prefix)
        if self.menu is not None:
            problems += self.menu.problems()
        for i, rule in enumerate(self.follow_ups):
            for j, condition in enumerate(rule.unless):
                if condition.object not in self.follower.link:
                    problems.append((("follow_ups", i, "unless", j, "object"),
                                     f"follow-up {rule.name!r} reads the follower's "
                                     f"{condition.object}, but follower.link has no "
                                     f"{condition.object} lookup — add it, or use "
                                     f"{' or '.join(self.follower.link) or 'a linked object'}"))
        return problems + self._conflict_problems()

    def _conflict_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """``conflict`` decides whether an update overwrites a matched person's value, so
        (but for ``dont_sync``) it needs a person field updated on matches: ``on: always``
        under ``objects``."""
        problems = []
        for use in self.field_uses():
            rule = use.rule
            if use.use != "write" or rule is None or rule.conflict in (None, "dont_sync"):
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
        uses += [FieldUse(("campaigns", "member_fields", fld), "CampaignMember", fld, "write")
                 for fld in self.campaigns.member_fields]
        for kind, event_rule in self.events.items():
            uses += [FieldUse(("events", kind, "erase", i), follower.object, fld, "write")
                     for i, fld in enumerate(event_rule.erase)]
        if self.lifecycle is not None:
            life = self.lifecycle
            uses.append(FieldUse(("lifecycle", "field"), follower.object, life.field, "write"))
            uses += [FieldUse(("lifecycle", "rules", i, "field"), r.object, r.field, "read")
                     for i, r in enumerate(life.rules) if r.object and r.field]
        for section in (self.qr, self.replies, self.way_back):
            uses += section.field_uses()
        uses += self.messages.field_uses(follower.object)
        uses += follow_up_uses(self.follow_ups, self.follower.link)
        return uses

    def create_key(self) -> MatchRule | None:
        """The match rule whose field is the upsert key for created records."""
        return next((r for r in self.match if r.object == self.create), None)
