"""Checks of the matching and campaign policies of a mapping against the org's describe.

Called by ``mappings/org_check.py`` with its checker (``report``, ``describe``,
``field``); pure like it. Covers: converted Leads (``follow_converted`` reads
Lead.IsConverted and Lead.ConvertedContactId), the Campaign field scenes are resolved by,
member statuses and the progression (CampaignMember.Status values), creating missing
statuses (CampaignMemberStatus), ``campaign.id`` sources that a field lookup leaves
blank (this last one needs no org: see :func:`check_scene_sources`), and the fields
conflict policies read (``prefer_salesforce_unless_blank``: the field, ``newest``:
LastModifiedDate).
"""

from __future__ import annotations

from mappings.field_checks import Checker
from mappings.field_types import TEXT_FIELDS, picklist_values
from mappings.models import FieldUse

CONVERSION_FIELDS = ("IsConverted", "ConvertedContactId")


def check_policies(checker: Checker) -> None:
    check_conversions(checker)
    check_scene_field(checker)
    check_statuses(checker)
    check_scene_sources(checker)
    check_conflict_reads(checker)


def check_conflict_reads(checker: Checker) -> None:
    """A conflict policy reads the person's current value (or LastModifiedDate) in the
    lookup query, so the integration user must see it: a field the describe lacks is one
    it cannot read."""
    for use in checker.mapping.field_uses():
        policy = use.rule.conflict if use.rule else None
        if policy not in ("prefer_salesforce_unless_blank", "newest"):
            continue
        info = checker.describe(use.object)
        names = {f["name"] for f in (info or {}).get("fields", [])}
        read = use.field if policy == "prefer_salesforce_unless_blank" else "LastModifiedDate"
        if info and read not in names:
            checker.report(use.path + ("conflict",), "error",
                           f"conflict: {policy} reads {use.object}.{read} before each "
                           "update, but the integration user cannot see it — give it read "
                           "access (field-level security), or choose another conflict")


def check_conversions(checker: Checker) -> None:
    """Lead rules that follow conversions read IsConverted and ConvertedContactId."""
    for i, rule in enumerate(checker.mapping.match):
        if rule.object != "Lead" or not rule.follow_converted:
            continue
        info = checker.describe("Lead") or {}
        names = {f["name"] for f in info.get("fields", [])}
        for name in CONVERSION_FIELDS:
            if info and name not in names:
                checker.report(("match", i, "object"), "error",
                               f"Lead.{name} is not visible to the integration user, but "
                               "this rule follows converted Leads to their Contact — give "
                               "the user read access to it, or add follow_converted: false")


def check_scene_field(checker: Checker) -> None:
    """The Campaign field scenes are looked up by exists, is filterable text, and unique."""
    resolve = checker.mapping.campaigns.resolve
    if resolve == "id":
        return
    path = ("campaigns", "resolve", "field")
    field = checker.field(FieldUse(path, "Campaign", resolve.field, "match"))
    if field is None:
        return
    name = f"Campaign.{field['name']}"
    if not field.get("filterable", True) or field.get("type") not in TEXT_FIELDS:
        checker.report(path, "error", f"{name} ({field.get('type')}) cannot be compared with "
                       "a scene in a query — use a Text field such as WeChat_Scene__c")
    elif not field.get("unique"):
        checker.report(path, "warning", f"{name} is not Unique: two campaigns could carry "
                       "the same scene and the bridge would pick one — tick \"Unique\" on it")


def check_statuses(checker: Checker) -> None:
    """Statuses the mapping names are CampaignMember.Status values (a warning: statuses
    are set per campaign), and CampaignMemberStatus exists when the mapping creates them."""
    campaigns = checker.mapping.campaigns
    named = [(("campaigns", "status", kind), status) for kind, status in campaigns.status.items()]
    named += [(("campaigns", "progression", i), s) for i, s in enumerate(campaigns.progression)]
    info = checker.describe("CampaignMember") if named else None
    field = next((f for f in (info or {}).get("fields", []) if f["name"] == "Status"), None)
    values = picklist_values(field) if field else []
    fix = ("the bridge adds it to campaigns that lack it (create_missing_statuses: true)"
           if campaigns.create_missing_statuses else
           "add it to each campaign you print codes for (Campaign › Advanced Setup), or set "
           "campaigns.create_missing_statuses: true")
    for key_path, status in named:
        if values and status not in values:
            checker.report(key_path, "warning",
                           f"'{status}' is not a CampaignMember.Status value of the org "
                           f"({', '.join(values)}) — statuses are set per campaign: {fix}")
    if campaigns.create_missing_statuses and checker.describe("CampaignMemberStatus") is None:
        checker.report(("campaigns", "create_missing_statuses"), "error",
                       "the integration user cannot see CampaignMemberStatus — give it Edit "
                       "on Campaigns, or set create_missing_statuses: false")


def check_scene_sources(checker: Checker) -> None:
    """``campaign.id`` is blank when scenes are looked up by a field: the Id is known only
    when writing, after the rules are rendered."""
    if checker.mapping.campaigns.resolve == "id":
        return
    for use in checker.mapping.field_uses():
        rule = use.rule
        if rule is None:
            continue
        where = ("source" if rule.source == "campaign.id" else "coalesce"
                 if "campaign.id" in (rule.coalesce or ()) else "template")
        if (rule.source == "campaign.id" or "campaign.id" in (rule.coalesce or ())
                or "campaign.id" in (rule.template or "")):
            checker.report(use.path + (where,), "error",
                           "campaign.id is blank when campaigns.resolve looks scenes up by a "
                           "field — use event.scene, or resolve: id")
