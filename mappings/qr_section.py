"""The ``qr:`` section of the mapping file.

QR codes for Salesforce records: which objects get codes, their scene prefixes, the
fields a code's ticket, image URL and scene are written back to, the flag by which an
admin asks for a code from Salesforce, and the registry object that keeps every code.

A scene is ``<prefix><record key>[.<channel>]`` (:mod:`connector.scenes`). Campaign codes
use ``campaigns.scene_prefix`` (the prefix scans are resolved by), so ``qr.objects.
Campaign`` takes no ``scene_prefix`` of its own. Prefixes must tell objects apart: none
may be the start of another (``sf`` and ``sfc_`` would make ``sfc_701...`` ambiguous).
Pure: no I/O.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from mappings.rules import FieldUse, Strict
from mappings.vocabulary import ApiName

CAMPAIGN = "Campaign"
PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")
REGISTRY = "WeChat_QR_Code__c"
# The registry's fields (salesforce/force-app/.../WeChat_QR_Code__c): the bridge writes
# them all; ``Code_Key__c`` (``<account>:<scene>``) is the upsert key.
REGISTRY_FIELDS = ("Code_Key__c", "Scene__c", "Account_Id__c", "Record_Id__c", "Object__c",
                   "Campaign__c", "Channel__c", "Version__c", "Ticket__c", "Image_Url__c",
                   "Url__c", "Permanent__c", "Expires_At__c")
WRITE_BACK = ("ticket_field", "image_url_field", "scene_field", "request_field")


class QrObject(Strict):
    """One object whose records get codes (``qr.objects.<Object>``).

    ``scene_prefix``: what a scene of this object's records starts with (not for
    Campaign, whose prefix is ``campaigns.scene_prefix``). The record fields, all
    optional: ``ticket_field`` (the code's ticket), ``image_url_field`` (the URL of the
    code's image), ``scene_field`` (the scene's record key: the text after the prefix,
    what ``campaigns.resolve: {field: ...}`` matches), ``request_field`` (a checkbox an
    admin ticks to ask for a code; the bridge clears it once the code is made).
    """

    scene_prefix: str | None = None
    ticket_field: ApiName | None = None
    image_url_field: ApiName | None = None
    scene_field: ApiName | None = None
    request_field: ApiName | None = None

    @model_validator(mode="after")
    def _prefix_shape(self) -> QrObject:
        if self.scene_prefix is not None and not PREFIX.match(self.scene_prefix):
            raise ValueError(
                f"scene_prefix {self.scene_prefix!r} must be 1 to 16 letters, digits, _ or "
                "-, starting with a letter (e.g. \"sfp_\"): it starts every scene WeChat "
                "sends back, which holds 64 characters")
        written = [getattr(self, name) for name in WRITE_BACK if getattr(self, name)]
        if len(set(written)) != len(written):
            raise ValueError("ticket_field, image_url_field, scene_field and request_field "
                             "must be different fields")
        return self


def _default_objects() -> dict[str, QrObject]:
    return {CAMPAIGN: QrObject()}


class QrSection(Strict):
    """``qr:``: ``objects`` (by API name; default: Campaign, with nothing written back)
    and ``registry``, the object holding one record per code."""

    registry: ApiName = REGISTRY
    objects: dict[ApiName, QrObject] = Field(default_factory=_default_objects)

    @field_validator("objects")
    @classmethod
    def _prefixes(cls, objects: dict[str, QrObject]) -> dict[str, QrObject]:
        for name, obj in objects.items():
            if name == CAMPAIGN and obj.scene_prefix is not None:
                raise ValueError(
                    "Campaign: Campaign codes use campaigns.scene_prefix, the prefix scans "
                    "are resolved by — remove scene_prefix here (or change "
                    "campaigns.scene_prefix)")
            if name != CAMPAIGN and obj.scene_prefix is None:
                raise ValueError(f"{name}: missing key 'scene_prefix' — give {name} codes "
                                 "their own prefix, e.g. scene_prefix: "
                                 f"\"{_example_prefix(name)}\"")
        problems = prefix_conflicts({n: o.scene_prefix for n, o in objects.items()
                                     if o.scene_prefix is not None})
        if problems:
            raise ValueError("; ".join(problems))
        return objects

    def prefixes(self, campaign_prefix: str) -> dict[str, str]:
        """Each configured object's scene prefix (Campaign's is ``campaign_prefix``)."""
        return {name: campaign_prefix if name == CAMPAIGN else str(obj.scene_prefix)
                for name, obj in self.objects.items()}

    def reference_problems(self, campaign_prefix: str,
                           ) -> list[tuple[tuple[str | int, ...], str]]:
        """Prefix clashes with ``campaigns.scene_prefix`` (the check within ``qr:`` is the
        model's own), as (key path, message) for the loader to place on their lines."""
        return [(("qr", "objects", name, "scene_prefix"), problem)
                for name, obj in self.objects.items()
                if name != CAMPAIGN and obj.scene_prefix is not None
                for problem in prefix_conflicts({CAMPAIGN: campaign_prefix,
                                                 name: obj.scene_prefix})]

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org: the
        record fields written back, and (when the file has a ``qr:`` section) the
        registry's fields."""
        uses = [FieldUse(("qr", "objects", name, key), name, getattr(obj, key), "write")
                for name, obj in self.objects.items() for key in WRITE_BACK
                if getattr(obj, key)]
        if self.model_fields_set:
            uses += [FieldUse(("qr", "registry"), self.registry, fld, "write")
                     for fld in REGISTRY_FIELDS]
        return uses


def prefix_conflicts(prefixes: dict[str, str]) -> list[str]:
    """Messages for prefixes (by object) that are equal or the start of another's."""
    problems = []
    items = sorted(prefixes.items())
    for i, (name, prefix) in enumerate(items):
        for other, other_prefix in items[i + 1:]:
            if prefix == other_prefix:
                problems.append(f"{name} and {other} both use scene_prefix {prefix!r} — "
                                "give each object its own prefix")
            elif other_prefix.startswith(prefix) or prefix.startswith(other_prefix):
                short, long_ = sorted(((name, prefix), (other, other_prefix)),
                                      key=lambda item: len(item[1]))
                problems.append(
                    f"{short[0]}'s scene_prefix {short[1]!r} is the start of {long_[0]}'s "
                    f"{long_[1]!r}, so a scene could belong to either — choose prefixes "
                    "that do not start alike (e.g. \"sfc_\" and \"sfp_\")")
    return problems


def _example_prefix(name: str) -> str:
    letter = next((c for c in name.lower() if c.isalpha() and c != "c"), "x")
    return f"sf{letter}_"
