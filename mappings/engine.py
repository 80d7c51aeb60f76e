"""Turn an event and a follower profile into a write plan, through the mapping.

Pure: no I/O, no clock, no randomness. The same inputs always give the same plan, which
is what makes previews trustworthy and retries harmless.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as Table
from typing import Any

from connector.events import InboundEvent
from connector.follower import Follower
from connector.ids import is_campaign_id, short_id
from connector.scenes import parse_scene
from mappings.models import TEMPLATE_SLOT, EventRule, FieldRule, Mapping
from mappings.plan import CaptureRecord, EventPlan, Lookup, PersonPlan
from mappings.transforms import apply_chain

# Text fields' lengths in characters, by (object, field), from the org's describe: what
# the ``fit`` transform cuts to. A field not in it is written as it is.
FieldLengths = Table[tuple[str, str], int]


class UnmappedEvent(Exception):
    """The mapping has no rule for this event kind; the caller keeps the event."""


def event_rule_name(event: InboundEvent) -> str:
    """The ``events:`` key for this event (``subscribe``, ``scan``, ``text``...)."""
    return event.rule_name


def source_value(path: str, event: InboundEvent, follower: Follower,
                 campaign_id: str | None) -> Any:
    root, name = path.split(".", 1)
    if root == "follower":
        return getattr(follower, name)
    if root == "event":
        return getattr(event, name)
    return {"id": campaign_id}.get(name)


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == () or value == []


def render(rule: FieldRule, event: InboundEvent, follower: Follower,
           campaign_id: str | None, length: int | None = None) -> Any:
    """The value a rule gives, or None when it is blank (and must not be written).

    A blank WeChat value never overwrites Salesforce data: the field is left out.
    ``length``: the target field's, for ``fit`` (None: unknown).
    """
    if rule.value is not None:
        return apply_chain(rule.transform, rule.value, length)
    if rule.template is not None:
        raw = fill_template(rule.template, event, follower, campaign_id)
    elif rule.coalesce is not None:  # the first source that is not blank
        raw = next((v for src in rule.coalesce
                    if not _blank(v := source_value(src, event, follower, campaign_id))), None)
    else:
        raw = source_value(rule.source, event, follower, campaign_id)
    value = apply_chain(rule.transform, raw, length)
    if rule.map is not None and not _blank(value):
        value = rule.map.get(str(value))
    if _blank(value):
        value = rule.default
    return None if _blank(value) else value


def fill_template(template: str, event: InboundEvent, follower: Follower,
                  campaign_id: str | None) -> str | None:
    """The template with each ``{source}`` slot filled; None when every slot is blank."""
    filled = []

    def slot(match: re.Match) -> str:
        value = source_value(match.group(1).strip(), event, follower, campaign_id)
        text = "" if _blank(value) else str(value)
        filled.append(text)
        return text

    text = TEMPLATE_SLOT.sub(slot, template)
    return text if any(filled) else None


def _render_all(rules: dict[str, FieldRule], event, follower, campaign_id, obj: str,
                lengths: FieldLengths, when: str | None = None) -> dict[str, Any]:
    out = {}
    for name, rule in rules.items():
        if rule.sync == "to_wechat" or rule.conflict == "dont_sync":
            continue  # flows from Salesforce only, or not at all: never written from here
        if when is not None and rule.on != when:
            continue
        value = render(rule, event, follower, campaign_id, lengths.get((obj, name)))
        if value is not None:
            out[name] = value
    return out


def resolve_campaign(scene: str | None, mapping: Mapping) -> tuple[str | None, str | None]:
    """(CampaignId, note) for a scene string; note explains a scene that names none."""
    prefix = mapping.campaigns.scene_prefix
    parsed = parse_scene(scene, [prefix])
    if parsed is None:
        return None, None
    if not is_campaign_id(parsed.key):
        return None, (f"scene {scene!r} has prefix {prefix!r} but {parsed.key!r} is no "
                      "Campaign Id")
    return parsed.key, None


def scene_lookup(scene: str | None, mapping: Mapping) -> Lookup | None:
    """The Campaign query for a scene under ``resolve: {field: ...}``: the scene after
    ``scene_prefix`` (and before a channel) is the field's value (the bridge runs one
    query per batch)."""
    resolve = mapping.campaigns.resolve
    parsed = parse_scene(scene, [mapping.campaigns.scene_prefix])
    if resolve == "id" or parsed is None:
        return None
    return Lookup("Campaign", resolve.field, parsed.key)


def handles(mapping: Mapping, event: InboundEvent) -> bool:
    """True when the mapping (the event's account's, see :meth:`Mapping.for_account`) has
    an ``events:`` rule for the event or captures its kind."""
    mapping = mapping.for_account(event.account)
    kind = event_rule_name(event)
    return kind in mapping.events or (mapping.capture is not None
                                      and kind in mapping.capture.kinds)


def capture_record(event: InboundEvent, follower: Follower, mapping: Mapping,
                   campaign_id: str | None, lengths: FieldLengths) -> CaptureRecord:
    """The record that captures ``event`` (its key is the event's dedupe key)."""
    cap = mapping.capture
    return CaptureRecord(object=cap.object, key_field=cap.external_id, key=event.dedupe_key,
                         fields=_render_all(cap.fields, event, follower, campaign_id,
                                            cap.object, lengths),
                         follower_link=cap.follower_link)


def plan_event(event: InboundEvent, follower: Follower, mapping: Mapping,
               lengths: FieldLengths | None = None) -> EventPlan:
    """The writes ``event`` causes for ``follower`` under ``mapping`` — under
    ``mapping.for_account(event.account)``, the sections of the event's account.

    ``lengths``: the org's text field lengths, which ``fit`` cuts to (see
    :data:`FieldLengths`; without them, ``fit`` leaves values as they are).

    Raises:
        UnmappedEvent: the mapping has no rule for this kind of event.
    """
    mapping = mapping.for_account(event.account)
    kind = event_rule_name(event)
    captured = mapping.capture is not None and kind in mapping.capture.kinds
    rule = mapping.events.get(kind)
    if rule is None:
        if not captured:
            raise UnmappedEvent(
                f"no rule for {event.kind} under 'events:' (or 'capture: kinds:') in the mapping")
        rule = EventRule()  # captured only: the follower is upserted, nothing else
    notes: list[str] = []
    campaign_id, campaign_lookup = None, None
    if rule.campaign and mapping.campaigns.resolve == "id":
        campaign_id, note = resolve_campaign(event.scene, mapping)
        if note:
            notes.append(note)
    elif rule.campaign:
        campaign_lookup = scene_lookup(event.scene, mapping)

    lengths = lengths or {}
    section = mapping.follower
    fields = _render_all(section.fields, event, follower, campaign_id, section.object, lengths)
    fields.update(_render_all(rule.follower, event, follower, campaign_id, section.object,
                              lengths))
    fields.update(dict.fromkeys(rule.erase))  # None: emptied in Salesforce

    person = None
    if rule.person:
        lookups = []
        for match in mapping.match:
            value = source_value(match.source, event, follower, campaign_id)
            if not _blank(value):
                lookups.append(Lookup(match.object, match.field, str(value), match.on_many,
                                      match.object == "Lead" and match.follow_converted))
        key_rule = mapping.create_key()
        create_key = None
        if key_rule is not None:
            value = source_value(key_rule.source, event, follower, campaign_id)
            if not _blank(value):
                create_key = Lookup(key_rule.object, key_rule.field, str(value))
        obj_rules = mapping.objects
        person = PersonPlan(
            lookups=tuple(lookups),
            create_object=mapping.create if create_key else None,
            create_key=create_key,
            create_fields=_render_all(obj_rules.get(mapping.create or "", {}), event,
                                      follower, campaign_id, mapping.create or "", lengths),
            update_fields={
                obj: values
                for obj, rules in obj_rules.items()
                if (values := _render_all(rules, event, follower, campaign_id, obj, lengths,
                                          when="always"))
            },
            conflicts={
                obj: policies
                for obj, rules in obj_rules.items()
                if (policies := {name: rule.conflict for name, rule in rules.items()
                                 if rule.on == "always"
                                 and rule.conflict not in (None, "dont_sync")})
            },
            assign_on_create=mapping.salesforce_rules.assignment_rules == "on_create",
        )

    campaigns = mapping.campaigns
    status = campaigns.status.get(kind) if campaign_id or campaign_lookup else None
    campaign_key = short_id(campaign_id) if campaign_id else (
        campaign_lookup.value if campaign_lookup else None)
    return EventPlan(
        key=event.dedupe_key,
        openid=follower.openid,
        create_time=event.create_time,
        follower_object=section.object,
        follower_key_field=section.external_id,
        follower_fields=fields,
        link_fields=dict(section.link) if person else {},
        person=person,
        campaign_id=campaign_id,
        member_status=status,
        campaign_lookup=campaign_lookup,
        progression=tuple(campaigns.progression),
        campaign_key=campaign_key,
        member_fields=dict(campaigns.member_fields) if campaign_key else {},
        create_missing_statuses=campaigns.create_missing_statuses,
        capture=(capture_record(event, follower, mapping, campaign_id, lengths)
                 if captured else None),
        notes=tuple(notes),
        kind=kind,
        lifecycle=mapping.lifecycle.plan() if mapping.lifecycle is not None else None,
    )
