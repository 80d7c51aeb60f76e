"""The ``messages:`` section of the mapping file.

Messages from Salesforce: the objects a message request and its recipients are
records of, and the fields the bridge reads and writes on them.
"""

from __future__ import annotations

from mappings.rules import FieldUse, Strict


class MessagesSection(Strict):
    """``messages:``."""

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org."""
        return []
