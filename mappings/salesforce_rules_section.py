"""The mapping's ``salesforce_rules:`` section: how the org's own rules treat the bridge's
writes (Salesforce runs them on API writes unless told otherwise)."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictBool

from mappings.rules import Strict


class SalesforceRulesSection(Strict):
    """``assignment_rules``: ``on_create`` (default) sends a Lead the bridge creates
    through the org's active assignment rule (its owner may become a queue or a rep);
    ``never`` keeps the integration user as its owner. The bridge's updates never run
    it, so a Lead's owner is not changed on each scan.

    ``allow_duplicates``: true saves a record a duplicate rule alerts about (a rule whose
    action is Allow; the API refuses it unless asked); false (default) leaves it unsaved,
    the failure naming the rule and the matching records. A rule whose action is Block
    refuses the record either way.
    """

    assignment_rules: Literal["on_create", "never"] = "on_create"
    allow_duplicates: StrictBool = False
