"""What a mapping makes the bridge write, object by object (pure).

A preflight compares this with the integration user's object permissions (a describe's
``createable`` / ``updateable``), before any record is written.
"""

from __future__ import annotations

from mappings.models import Mapping

CREATE, UPDATE = "create", "update"


def written_objects(mapping: Mapping) -> dict[str, set[str]]:
    """Object → the operations the bridge performs on it (``create``, ``update``), over
    the top-level mapping and every account's.

    An upsert by external id needs both: it creates the first time and updates after.
    """
    written: dict[str, set[str]] = {}

    def add(obj: str, *operations: str) -> None:
        written.setdefault(obj, set()).update(operations)

    for m in mapping.account_mappings().values():
        add(m.follower.object, CREATE, UPDATE)  # upserted by follower.external_id
        if m.create:
            add(m.create, CREATE, UPDATE)  # created, then kept up to date
        for obj in m.objects:
            add(obj, UPDATE)
        if m.campaigns.status:
            add("CampaignMember", CREATE, *((UPDATE,) if m.campaigns.progression
                                             or m.campaigns.member_fields else ()))
            if m.campaigns.create_missing_statuses:
                add("CampaignMemberStatus", CREATE)
        if m.capture is not None:
            add(m.capture.object, CREATE, UPDATE)  # upserted by capture.external_id
    return written
