"""What ``connector campaigns stats <Id>`` reports: per channel code of a campaign, the
scans, unique scanners and new followers (counted by the worker in Redis, see
:mod:`connector.inbound.touches`) and the members (read from Salesforce: the CampaignMembers
whose first touch came through that channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from connector.errors import FatalError
from connector.ids import short_id
from connector.inbound import touches
from connector.salesforce import SalesforceGateway
from mappings.models import Mapping

CAMPAIGN = "SELECT Id, Name FROM Campaign WHERE Id = {id}"
CAMPAIGN_WITH = "SELECT Id, Name, {:literal} FROM Campaign WHERE Id = {id}"
MEMBERS = "SELECT Id FROM CampaignMember WHERE CampaignId = {id}"
MEMBERS_WITH = "SELECT Id, {:literal} FROM CampaignMember WHERE CampaignId = {id}"


@dataclass
class Row:
    """One line of the report; ``channel`` None is the campaign's own code."""

    channel: str | None
    scans: int = 0
    scanners: int = 0
    new_followers: int = 0
    members: int = 0


@dataclass
class CampaignStats:
    campaign_id: str
    name: str | None
    rows: list[Row] = field(default_factory=list)
    total: Row = field(default_factory=lambda: Row(None))

    def to_json(self) -> dict[str, Any]:
        def row(r: Row) -> dict[str, Any]:
            return {"channel": r.channel, "scans": r.scans, "scanners": r.scanners,
                    "new_followers": r.new_followers, "members": r.members}
        return {"campaign": self.campaign_id, "name": self.name,
                "channels": [row(r) for r in self.rows], "total": row(self.total)}

    def table(self) -> str:
        head = f"Campaign {self.campaign_id}" + (f" ({self.name})" if self.name else "")
        lines = [head, f"{'channel':<24}{'scans':>8}{'scanners':>10}{'new followers':>15}"
                       f"{'members':>9}"]
        for r in [*self.rows, self.total]:
            label = "total" if r is self.total else (r.channel or "(campaign's own code)")
            lines.append(f"{label:<24}{r.scans:>8}{r.scanners:>10}{r.new_followers:>15}"
                         f"{r.members:>9}")
        return "\n".join(lines)


def first_channel_field(mapping: Mapping) -> str | None:
    """The CampaignMember field holding the first touch's channel, if the mapping keeps one."""
    return next((name for name, value in mapping.campaigns.member_fields.items()
                 if value == "first_channel"), None)


def campaign_stats(salesforce: SalesforceGateway, redis: Redis, mapping: Mapping,
                   campaign_id: str) -> CampaignStats:
    """The report for ``campaign_id`` (three queries at most).

    Raises:
        FatalError: no such Campaign (or not an Id).
    """
    resolve = mapping.campaigns.resolve
    if resolve == "id":
        rows = salesforce.query(CAMPAIGN, id=campaign_id)
    else:
        rows = salesforce.query(CAMPAIGN_WITH, resolve.field, id=campaign_id)
    if not rows:
        raise FatalError(f"no Campaign {campaign_id} in Salesforce — check the Id "
                         "(Setup shows it in the Campaign's URL)", code="NOT_FOUND")
    campaign = rows[0]
    key = short_id(campaign["Id"]) if resolve == "id" else campaign.get(resolve.field)
    stats = CampaignStats(campaign["Id"], campaign.get("Name"))
    by_channel: dict[str | None, Row] = {}
    if key:
        counted, total = touches.counts(redis, str(key))
        for c in counted:
            by_channel[c.channel] = Row(c.channel, c.scans, c.scanners, c.new_followers)
        stats.total = Row(None, total.scans, total.scanners, total.new_followers)
    channel_field = first_channel_field(mapping)
    if channel_field:
        members = salesforce.query(MEMBERS_WITH, channel_field, id=campaign["Id"])
    else:
        members = salesforce.query(MEMBERS, id=campaign["Id"])
    for member in members:
        channel = member.get(channel_field) if channel_field else None
        by_channel.setdefault(channel or None, Row(channel or None)).members += 1
    stats.total.members = len(members)
    stats.rows = sorted(by_channel.values(), key=lambda r: (r.channel is not None,
                                                            r.channel or ""))
    return stats
