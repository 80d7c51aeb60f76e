"""Campaign members of a batch, decided without I/O: which statuses to add to campaigns,
which members to create and which to move forward.

The batch's queries (:mod:`.apply`) fill a :class:`CampaignFacts`; the writes
planned here are part of what ``connector mappings preview`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.ids import short_id
from connector.inbound.calls import Write
from connector.inbound.touches import Touch
from mappings.plan import EventPlan
from mappings.transforms import unix_to_datetime


@dataclass
class CampaignFacts:
    """What the batch's campaign queries found. Campaign ids are keyed by their first 15
    characters, since a scene may carry the 15-character form and queries return 18.

    ``by_scene``: (field, value) → Campaign Id, for ``resolve: {field: ...}``.
    ``members``: (campaign, person Id) → (CampaignMember Id, Status), read only when a
    plan has a ``progression``. ``statuses``: campaign → {Label: SortOrder}, read only
    when a plan creates missing statuses. ``touches``: (campaign key, openid) → the
    follower's touches of the campaign (:mod:`.touches`), for ``member_fields``.
    """

    by_scene: dict[tuple[str, str], str] = field(default_factory=dict)
    members: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    touches: dict[tuple[str, str], Touch] = field(default_factory=dict)


def campaign_of(plan: EventPlan, facts: CampaignFacts) -> str | None:
    """The Campaign Id the plan's event joins: its scene's Id, or the one found by field."""
    lookup = plan.campaign_lookup
    if lookup is not None:
        return facts.by_scene.get((lookup.field, lookup.value))
    return plan.campaign_id


def rank(progression: tuple[str, ...], status: str | None) -> int:
    """Position of ``status`` in ``progression``; -1 when it is not listed."""
    return progression.index(status) if status in progression else -1


@dataclass
class _Member:
    campaign: str
    obj: str
    person: object  # an Id, or a Ref to a person created in this batch
    status: str | None
    events: list[str]
    plan: EventPlan  # the first plan: its progression and status settings apply
    openids: set[str] = field(default_factory=set)


def _members(plans: list[EventPlan], found: dict, facts: CampaignFacts) -> list[_Member]:
    """One member per (campaign, person), however often the person scanned. Its status
    is the first event's, or with a progression the latest stage any event reached."""
    members: dict[tuple, _Member] = {}
    for plan in sorted(plans, key=lambda p: p.create_time):
        person, campaign = found.get(plan.openid), campaign_of(plan, facts)
        if not (person and campaign):
            continue
        member = members.setdefault((short_id(campaign), *person),
                                    _Member(campaign, *person, plan.member_status, [], plan))
        member.events.append(plan.key)
        member.openids.add(plan.openid)
        if rank(plan.progression, plan.member_status) > rank(plan.progression, member.status):
            member.status = plan.member_status
    return list(members.values())


def member_writes(plans: list[EventPlan], found: dict, facts: CampaignFacts) -> list[Write]:
    """The CampaignMemberStatus creates, CampaignMember creates and CampaignMember status
    promotions of ``plans``, in that order. ``found``: openid → (object, Id or Ref).

    A member that exists (``facts.members``) is updated only when its status is earlier
    in the progression than the new one, never lowered; one whose status is not in the
    progression is left alone (an admin set it). Pure.
    """
    members = _members(plans, found, facts)
    writes: list[Write] = []
    statuses = _status_records(members, facts)
    if statuses:
        writes.append(Write("create", "CampaignMemberStatus", None,
                            tuple(r for r, _ in statuses), tuple(e for _, e in statuses),
                            duplicate_ok=True))
    creates, updates = [], []
    for m in members:
        existing = facts.members.get((short_id(m.campaign), m.person)) \
            if isinstance(m.person, str) else None
        touched = touch_values(m, facts)
        if existing is None:
            record = {"CampaignId": m.campaign, f"{m.obj}Id": m.person, **touched}
            if m.status:
                record["Status"] = m.status
            creates.append((record, tuple(m.events)))
            continue
        record = {"Id": existing[0], **touched}
        if rank(m.plan.progression, m.status) > rank(m.plan.progression, existing[1]) \
                and rank(m.plan.progression, existing[1]) >= 0:
            record["Status"] = m.status
        if len(record) > 1:
            updates.append((record, tuple(m.events)))
    if creates:
        writes.append(Write("create", "CampaignMember", None, tuple(r for r, _ in creates),
                            tuple(e for _, e in creates), duplicate_ok=True))
    if updates:
        writes.append(Write("update", "CampaignMember", "Id", tuple(r for r, _ in updates),
                            tuple(e for _, e in updates)))
    return writes


def touch_values(member: _Member, facts: CampaignFacts) -> dict[str, object]:
    """The member's ``member_fields`` from its followers' touches (a person with several
    followers, one per account, has the earliest first touch, the latest last touch and
    the sum of the scans). A channel is None for the campaign's own code: written as
    such, so a member whose latest scan was the campaign's own code shows no channel."""
    wanted, key = member.plan.member_fields, member.plan.campaign_key
    found = [t for openid in sorted(member.openids)
             if (t := facts.touches.get((key, openid))) is not None]
    if not wanted or not found:
        return {}
    first = min(found, key=lambda t: t.first)
    last = max(found, key=lambda t: t.last)
    combined = Touch(first.first, last.last, sum(t.scans for t in found),
                     first.first_channel, last.last_channel)
    out: dict[str, object] = {}
    for name, attribute in wanted.items():
        value = combined.value(attribute)
        if attribute in ("first_touch", "last_touch"):
            value = unix_to_datetime(value)
        out[name] = value
    return out


def _status_records(members: list[_Member],
                    facts: CampaignFacts) -> list[tuple[dict, tuple[str, ...]]]:
    """The statuses members need that their campaigns lack, when the mapping creates
    them; each placed after the campaign's existing ones, in progression order."""
    needed: dict[str, dict[str, list[str]]] = {}  # campaign → status → events
    campaigns: dict[str, tuple[str, tuple[str, ...]]] = {}
    for m in members:
        key = short_id(m.campaign)
        if m.status and m.plan.create_missing_statuses \
                and m.status not in facts.statuses.get(key, {}):
            needed.setdefault(key, {}).setdefault(m.status, []).extend(m.events)
            campaigns.setdefault(key, (m.campaign, m.plan.progression))
    records = []
    for key, wanted in needed.items():
        campaign, progression = campaigns[key]
        order = max(facts.statuses.get(key, {}).values(), default=0)
        for i, label in enumerate(sorted(wanted, key=lambda s: rank(progression, s)), 1):
            # The bridge writes a status only when a person acted (followed, scanned):
            # a response, as campaign reports count it.
            records.append(({"CampaignId": campaign, "Label": label, "HasResponded": True,
                             "SortOrder": order + i}, tuple(wanted[label])))
    return records
