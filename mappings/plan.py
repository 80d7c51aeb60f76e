"""The write plan: what one event should change in Salesforce, decided without I/O.

The engine (``mappings/engine.py``) makes an :class:`EventPlan` per event; the bridge
(``connector/inbound/apply.py``) applies many plans together with a handful of collection calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mappings.lifecycle import Lifecycle


@dataclass(frozen=True)
class Lookup:
    """Find a record: ``SELECT Id FROM object WHERE field = value``.

    For a person, ``on_many`` picks among several records (``oldest``, ``newest``,
    ``skip``) and ``follow_converted`` replaces a converted Lead by its Contact.
    """

    object: str
    field: str
    value: str
    on_many: str = "oldest"
    follow_converted: bool = False


@dataclass(frozen=True)
class PersonPlan:
    """How the follower finds (or becomes) a Contact or Lead.

    ``lookups`` are tried in order; the first hit wins. Without a hit, a record of
    ``create_object`` is upserted by ``create_key`` (idempotent) with ``create_fields``.
    ``update_fields`` (per object) are written to a matched record, each unless its
    ``conflicts`` policy (per object and field, e.g. ``newest``) keeps the value in
    Salesforce; fields without a policy are always written. ``assign_on_create``: a
    created record goes through the org's active assignment rule (the mapping's
    ``salesforce_rules.assignment_rules``).
    """

    lookups: tuple[Lookup, ...]
    create_object: str | None
    create_key: Lookup | None
    create_fields: dict[str, Any] = field(default_factory=dict)
    update_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, str]] = field(default_factory=dict)
    assign_on_create: bool = True


@dataclass(frozen=True)
class CaptureRecord:
    """The record that captures one event: upserted into ``object`` by ``key_field``."""

    object: str
    key_field: str
    key: str
    fields: dict[str, Any]
    follower_link: str | None = None


@dataclass(frozen=True)
class EventPlan:
    """Everything one event writes. ``key`` is the event's dedupe key."""

    key: str
    openid: str
    create_time: int
    follower_object: str
    follower_key_field: str
    follower_fields: dict[str, Any]
    link_fields: dict[str, str]
    person: PersonPlan | None = None
    campaign_id: str | None = None
    member_status: str | None = None
    # the Campaign to find by a field (campaigns.resolve: {field: ...}) instead of its Id
    campaign_lookup: Lookup | None = None
    progression: tuple[str, ...] = ()  # member statuses, earliest first
    # what the scene names (connector/inbound/touches.py keys touches by it): the 15-character
    # Campaign Id, or the Campaign field's value; and the member fields kept from touches
    campaign_key: str | None = None
    member_fields: dict[str, str] = field(default_factory=dict)
    create_missing_statuses: bool = False
    capture: CaptureRecord | None = None
    notes: tuple[str, ...] = ()
    kind: str = ""  # the events: key (subscribe, scan, text...), for lifecycle rules
    lifecycle: Lifecycle | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view, for previews and job results."""
        from dataclasses import asdict

        return asdict(self)
