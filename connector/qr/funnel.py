"""A campaign's funnel, from Salesforce's records: for the campaign and each of its
channel codes, scanners → new followers → each lifecycle stage reached → unfollowed.

Read from the records the bridge keeps current (so the funnel follows what sales does:
the way back moves lifecycle stages, :mod:`connector.wayback.lifecycle`):

- **scanners**: the campaign's CampaignMembers (a person joins on their first scan or
  follow through one of its codes), per the channel of their first touch (the mapping's
  ``member_fields: first_channel``; without it every member counts on the campaign's
  own line);
- **new followers**: the members whose Status is the one a follow gives
  (``campaigns.status.subscribe``; a member a ``progression`` or an admin moved to
  another status no longer counts here — the worker's Redis count in
  :mod:`connector.inbound.stats` does not depend on it);
- **stages**: the members' followers (the follower records linked to the member's Lead
  or Contact) at each stage *or a later one* (a funnel: Identified counts the
  Customers too), per the mapping's ``lifecycle:``;
- **unfollowed**: those followers whose subscribed field (the one written from
  ``follower.subscribed``) is false.

Two queries, more when the members' ids pass what one query's URL takes; every value
goes through ``format_soql``. Salesforce's aggregate queries are not needed: the rows
are counted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.errors import FatalError
from connector.ids import is_record_id, short_id
from connector.salesforce import SalesforceGateway
from mappings.models import Mapping

MEMBERS = ("SELECT Id, LeadId, ContactId, Status, {:literal} FROM CampaignMember "
           "WHERE CampaignId = {id}")
FOLLOWERS = "SELECT Id, {:literal} FROM {:literal} WHERE {:literal} IN {ids}"


@dataclass
class Stage:
    """One line of a funnel: ``channel`` None is the campaign's own code (or no
    channel kept), ``stages`` the followers at each stage or later, in order."""

    channel: str | None
    scanners: int = 0
    new_followers: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    unfollowed: int = 0


@dataclass
class Funnel:
    """The funnel of ``campaign_id``: a line per channel and the total."""

    campaign_id: str
    stage_names: list[str]
    channels: list[Stage] = field(default_factory=list)
    total: Stage = field(default_factory=lambda: Stage(None))

    def to_json(self) -> dict[str, Any]:
        def line(s: Stage) -> dict[str, Any]:
            return {"channel": s.channel, "scanners": s.scanners,
                    "new_followers": s.new_followers,
                    "stages": {n: s.stages.get(n, 0) for n in self.stage_names},
                    "unfollowed": s.unfollowed}
        return {"campaign": self.campaign_id, "stages": self.stage_names,
                "channels": [line(s) for s in self.channels], "total": line(self.total)}

    def table(self) -> str:
        """The funnel as a text table: a column per step, a line per channel."""
        heads = ["scanners", "new followers", *self.stage_names, "unfollowed"]
        lines = ["Funnel (stages: followers at the stage or a later one)",
                 f"{'channel':<24}" + "".join(f"{h:>{max(len(h), 5) + 2}}" for h in heads)]
        for s in [*self.channels, self.total]:
            label = "total" if s is self.total else (s.channel or "(campaign's own code)")
            values = [s.scanners, s.new_followers,
                      *(s.stages.get(n, 0) for n in self.stage_names), s.unfollowed]
            lines.append(f"{label:<24}" + "".join(
                f"{v:>{max(len(h), 5) + 2}}" for h, v in zip(heads, values, strict=True)))
        return "\n".join(lines)


def campaign_funnel(salesforce: SalesforceGateway, mapping: Mapping, campaign_id: str
                    ) -> Funnel:
    """The funnel of ``campaign_id`` (a Campaign Id, 15 or 18 characters).

    Raises:
        FatalError: ``campaign_id`` is not a record Id (code ``INVALID_ID``), or
            Salesforce refused a query.
        RetriableError: Salesforce failed for now.
    """
    if not is_record_id(campaign_id):
        raise FatalError(f"{campaign_id!r} is not a Campaign Id — give the 15- or "
                         "18-character Id (Setup shows it in the Campaign's URL)",
                         code="INVALID_ID")
    channel_field = next((name for name, value in mapping.campaigns.member_fields.items()
                          if value == "first_channel"), None)
    members = salesforce.query(MEMBERS, channel_field or "CampaignId", id=campaign_id)
    stage_names = list(mapping.lifecycle.stages) if mapping.lifecycle else []
    funnel = Funnel(campaign_id, stage_names,
                    total=Stage(None, stages=dict.fromkeys(stage_names, 0)))
    lines: dict[str | None, Stage] = {}

    def line_of(channel: str | None) -> Stage:
        return lines.setdefault(channel, Stage(channel, stages=dict.fromkeys(stage_names, 0)))

    joined = mapping.campaigns.status.get("subscribe")
    channel_of: dict[str, str | None] = {}  # person (15 characters) → member's channel
    for member in members:
        channel = (member.get(channel_field) or None) if channel_field else None
        for line in (line_of(channel), funnel.total):
            line.scanners += 1
            line.new_followers += bool(joined) and member.get("Status") == joined
        for person in (member.get("LeadId"), member.get("ContactId")):
            if person:
                channel_of[short_id(person)] = channel
    for follower, channel in _followers(salesforce, mapping, members, channel_of):
        for line in (line_of(channel), funnel.total):
            _count(line, follower, mapping, stage_names)
    funnel.channels = sorted(lines.values(), key=lambda s: (s.channel is not None,
                                                            s.channel or ""))
    return funnel


def _followers(salesforce: SalesforceGateway, mapping: Mapping, members: list[dict],
               channel_of: dict[str, str | None]) -> list[tuple[dict, str | None]]:
    """The follower records linked to the members' persons, each once, with the channel
    of the member it belongs to."""
    follower = mapping.follower
    columns = [*follower.link.values(), *_follower_fields(mapping)]
    found: dict[str, tuple[dict, str | None]] = {}
    for obj, link in follower.link.items():
        person_field = "LeadId" if obj == "Lead" else "ContactId"
        ids = sorted({m[person_field] for m in members if m.get(person_field)})
        rows = salesforce.query_in(FOLLOWERS, ", ".join(dict.fromkeys(columns)),
                                   follower.object, link, split="ids", ids=ids)
        for row in rows:
            if row["Id"] not in found:
                found[row["Id"]] = (row, channel_of.get(short_id(row.get(link) or "")))
    return list(found.values())


def _follower_fields(mapping: Mapping) -> list[str]:
    """The follower fields the funnel reads: the lifecycle stage and the subscribed
    flag, when the mapping writes them."""
    out = [mapping.lifecycle.field] if mapping.lifecycle else []
    return out + [name for name, rule in mapping.follower.fields.items()
                  if rule.source == "follower.subscribed"]


def _count(line: Stage, follower: dict, mapping: Mapping, stage_names: list[str]) -> None:
    if mapping.lifecycle is not None:
        at = follower.get(mapping.lifecycle.field)
        if at in stage_names:
            for name in stage_names[:stage_names.index(at) + 1]:
                line.stages[name] += 1
    subscribed = [n for n, r in mapping.follower.fields.items()
                  if r.source == "follower.subscribed"]
    if subscribed and follower.get(subscribed[0]) is False:
        line.unfollowed += 1
