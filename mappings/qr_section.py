"""The ``qr:`` section of the mapping file.

QR codes for Salesforce records: which objects get codes, their scene prefixes,
the fields a code's ticket, image URL and scene are written back to.
"""

from __future__ import annotations

from mappings.rules import FieldUse, Strict


class QrSection(Strict):
    """``qr:``."""

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org."""
        return []
