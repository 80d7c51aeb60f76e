"""Adding the CampaignMemberStatus records a batch's members need, safely beside other
writers adding statuses to the same campaign.

A status's SortOrder is unique per campaign, and its Label too. Two workers that read a
campaign's statuses at the same moment pick the same next SortOrder; the second one's
status is refused with DUPLICATE_VALUE. So a refused status is not taken for "already
there": the campaign's statuses are read again, and a status still missing is sent again
with the SortOrder after the highest one now there, a few rounds at most. A member whose
status could not be added is not written (it would stay on the campaign's default status,
or be refused): its events fail retriably and come back.
"""

from __future__ import annotations

import logging

from connector.errors import BridgeError, RetriableError
from connector.ids import short_id
from connector.inbound.calls import Write
from connector.salesforce import DUPLICATE_VALUE, SalesforceGateway

log = logging.getLogger(__name__)

ROUNDS = 5  # each round at least one of the racing adders gets its SortOrder
LABELS = ("SELECT CampaignId, Label, SortOrder FROM CampaignMemberStatus "
          "WHERE CampaignId IN {campaigns}")
Pending = list[tuple[dict, tuple[str, ...]]]


def add_statuses(gateway: SalesforceGateway, write: Write,
                 fail: dict[str, BridgeError]) -> set[str]:
    """Create ``write``'s CampaignMemberStatus records; the events whose status could not
    be added (each also given its failure in ``fail``, event key → error).

    Raises:
        RetriableError, FatalError: a whole call failed.
    """
    pending: Pending = list(zip(write.records, write.events, strict=True))
    blocked: set[str] = set()
    for _ in range(ROUNDS):
        results = gateway.create_many("CampaignMemberStatus", [r for r, _ in pending])
        refused: Pending = []
        for (record, events), result in zip(pending, results, strict=True):
            if result.success:
                continue
            if any(e.code == DUPLICATE_VALUE for e in result.errors):
                refused.append((record, events))  # its Label, or its SortOrder, is taken
                continue
            for key in events:
                fail.setdefault(key, result.errors[0])
            blocked.update(events)
        if not refused:
            return blocked
        pending = _renumbered(gateway, refused)
        if not pending:
            return blocked
    error = RetriableError(
        f"CampaignMemberStatus: other writers kept taking the SortOrder of "
        f"{', '.join(sorted({r['Label'] for r, _ in pending}))} in "
        f"{', '.join(sorted({r['CampaignId'] for r, _ in pending}))}; retry.",
        system="salesforce", code=DUPLICATE_VALUE, fields=["SortOrder"])
    for _, events in pending:
        for key in events:
            fail.setdefault(key, error)
        blocked.update(events)
    return blocked


def _renumbered(gateway: SalesforceGateway, refused: Pending) -> Pending:
    """The refused statuses still missing from their campaigns, each given the next
    SortOrder after the campaign's highest one (in their order)."""
    campaigns = sorted({r["CampaignId"] for r, _ in refused})
    labels: dict[str, dict[str, int]] = {}
    for row in gateway.query_in(LABELS, split="campaigns", campaigns=campaigns):
        labels.setdefault(short_id(row["CampaignId"]), {})[row["Label"]] = \
            int(row.get("SortOrder") or 0)
    top = {key: max(found.values(), default=0) for key, found in labels.items()}
    again: Pending = []
    for record, events in refused:
        key = short_id(record["CampaignId"])
        if record["Label"] in labels.get(key, {}):
            continue  # another writer added it: what these members need is there
        top[key] = top.get(key, 0) + 1
        again.append(({**record, "SortOrder": top[key]}, events))
    if again:
        log.info("CampaignMemberStatus: %d statuses lost their SortOrder to another writer; "
                 "sending them again renumbered", len(again))
    return again
