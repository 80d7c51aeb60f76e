"""The ``way_back:`` section of the mapping file.

The way back (Salesforce → WeChat): which objects are watched for changes, and how
changed fields become a follower's remark and tags.
"""

from __future__ import annotations

from mappings.rules import FieldUse, Strict


class WayBackSection(Strict):
    """``way_back:``."""

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org."""
        return []
