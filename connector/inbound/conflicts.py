"""Conflict policies: which ``on: always`` values an update may write over a matched
person's values in Salesforce (the mapping's ``conflict:``, HubSpot's sync rules).

Pure. The person's current values come from the row the person lookup read
(:mod:`.apply` selects the fields and LastModifiedDate a policy needs); when
they are unknown — the person is the Contact of a converted Lead, whose row was not
read — a policy keeps Salesforce's value: overwriting what nobody saw is the unsafe
choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

MODIFIED = "LastModifiedDate"


def read_fields(conflicts: Mapping[str, str]) -> list[str]:
    """The fields a person's row must carry for ``conflicts`` (field → policy)."""
    fields = sorted(f for f, policy in conflicts.items()
                    if policy == "prefer_salesforce_unless_blank")
    return fields + [MODIFIED] if "newest" in conflicts.values() else fields


def may_overwrite(policy: str | None, field: str, row: Mapping[str, Any] | None,
                  event_time: int) -> bool:
    """Whether an update may write ``field`` of the person whose lookup read ``row``
    (None: not read), for an event of ``event_time`` (unix seconds, WeChat's CreateTime).

    No policy: yes. ``prefer_salesforce_unless_blank``: only when the row shows the field
    blank. ``newest``: only when the event is newer than the row's LastModifiedDate.
    ``always_salesforce`` and ``dont_sync``: never.
    """
    if policy is None:
        return True
    if row is None:
        return False
    if policy == "prefer_salesforce_unless_blank":
        return field in row and row[field] in (None, "")
    if policy == "newest":
        modified = _unix(row.get(MODIFIED))
        return modified is not None and event_time > modified
    return False


def updatable(values: Mapping[str, Any], conflicts: Mapping[str, str],
              row: Mapping[str, Any] | None, event_time: int) -> dict[str, Any]:
    """The part of ``values`` (field → value) an update may write: see
    :func:`may_overwrite`."""
    return {f: v for f, v in values.items()
            if may_overwrite(conflicts.get(f), f, row, event_time)}


def _unix(stamp: Any) -> float | None:
    """Salesforce's ``2024-01-31T12:00:00.000+0000`` as unix seconds; None when unknown."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
