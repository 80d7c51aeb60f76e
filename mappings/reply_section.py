"""The ``replies:`` section of the mapping file.

Auto-replies on follow and scan: the Campaign fields a campaign's reply is read
from, and the reply to a follow that names no campaign.
"""

from __future__ import annotations

from mappings.rules import FieldUse, Strict


class RepliesSection(Strict):
    """``replies:``."""

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org."""
        return []
