"""The objects and fields the sandbox knows: the single source of truth.

Describe (``describe.py``), write validation (``records.py``) and SOQL (``soql_eval.py``)
all read these definitions, so an admin change simulated with :meth:`Schema.require`
shows up everywhere at once. Definitions are immutable; a :class:`Schema` holds one
sandbox's run-time changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

# Field types use the describe ``type`` names.
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "picklist", "url"})


@dataclass(frozen=True)
class Field:
    """One field as describe reports it; ``nillable=False`` on a createable, non-defaulted
    field means "required on create"."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted: bool = False
    default: object = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    name_field: bool = False
    auto_number: bool = False
    id_lookup: bool = False
    digits: int = 0
    extra_type_info: str | None = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required_on_create(self) -> bool:
        return (self.createable and not self.nillable and not self.defaulted
                and self.type != "boolean")

    @property
    def relationship_name(self) -> str | None:
        if self.type != "reference":
            return None
        if self.custom:
            return self.name[:-3] + "__r"
        return self.name[:-2] if self.name.endswith("Id") else self.name


@dataclass(frozen=True)
class SObject:
    """One object; ``one_of_required`` lists fields of which at least one must be set."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[Field, ...]
    label_plural: str = ""
    one_of_required: tuple[str, ...] = ()
    by_lower: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_lower.update({f.name.lower(): f for f in self.fields})

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (case-insensitive), or None."""
        return self.by_lower.get(name.lower())


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ")


def _f(name: str, type_: str, **kw) -> Field:
    kw.setdefault("label", _label(name))
    if type_ == "boolean":
        kw.setdefault("default", False)
        kw.update(nillable=False, defaulted=True)
    if type_ == "reference":
        kw.setdefault("length", 18)
    return Field(name, type_, **kw)


def _text(name: str, length: int, **kw) -> Field:
    return _f(name, "string", length=length, **kw)


def _ext_id(name: str, *, unique: bool) -> Field:
    return _text(name, 64, external_id=True, unique=unique, case_sensitive=unique,
                 id_lookup=True)


def _required(name: str, length: int, **kw) -> Field:
    return _text(name, length, nillable=False, **kw)


def _picklist(name: str, values: tuple[str, ...], *, restricted: bool = False,
              default: str | None = None, **kw) -> Field:
    return _f(name, "picklist", length=255, picklist=values, restricted=restricted,
              default=default, defaulted=default is not None,
              nillable=default is None, **kw)


def _read_only(f: Field) -> Field:
    return replace(f, createable=False, updateable=False)


def _system_fields(label: str) -> tuple[Field, ...]:
    audit = dict(nillable=False, createable=False, updateable=False, defaulted=True)
    return (
        _f("Id", "id", label=f"{label} ID", length=18, id_lookup=True, **audit),
        _f("IsDeleted", "boolean", label="Deleted", createable=False, updateable=False),
        _f("CreatedDate", "datetime", label="Created Date", **audit),
        _f("CreatedById", "reference", label="Created By ID", reference_to=("User",), **audit),
        _f("LastModifiedDate", "datetime", label="Last Modified Date", **audit),
        _f("LastModifiedById", "reference", label="Last Modified By ID",
           reference_to=("User",), **audit),
        _f("SystemModstamp", "datetime", label="System Modstamp", **audit),
    )


def _object(name: str, label: str, prefix: str, *fields: Field, plural: str = "",
            one_of_required: tuple[str, ...] = ()) -> SObject:
    return SObject(name, label, prefix, _system_fields(label) + fields,
                   label_plural=plural or label + "s", one_of_required=one_of_required)


LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "WeChat")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted")
MEMBER_STATUSES = ("Sent", "Responded", "Scanned", "Subscribed")
_PERSON_NAME = dict(createable=False, updateable=False, name_field=True, defaulted=True)


def _person_fields() -> tuple[Field, ...]:
    return (
        _text("FirstName", 40, label="First Name"),
        _required("LastName", 80, label="Last Name", extra_type_info="personname"),
        _text("Name", 121, label="Full Name", **_PERSON_NAME),
        _f("Email", "email", length=80),
        _f("Phone", "phone", length=40),
        _picklist("LeadSource", LEAD_SOURCES, label="Lead Source"),
        _f("Description", "textarea", length=32000, extra_type_info="plaintextarea"),
        _ext_id("WeChat_OpenId__c", unique=True),
        _ext_id("WeChat_UnionId__c", unique=False),
    )


OBJECTS: tuple[SObject, ...] = (
    _object(
        "Account", "Account", "001",
        _required("Name", 255, label="Account Name", name_field=True),
        _f("Phone", "phone", length=40, label="Account Phone"),
        _f("Description", "textarea", length=32000, extra_type_info="plaintextarea"),
    ),
    _object(
        "Lead", "Lead", "00Q",
        *_person_fields(),
        _required("Company", 255),
        _picklist("Status", LEAD_STATUSES, restricted=True, default=LEAD_STATUSES[0]),
        _f("NumberOfEmployees", "int", label="Employees", digits=8),
        _read_only(_f("IsConverted", "boolean", label="Converted")),
        _read_only(_f("ConvertedContactId", "reference", label="Converted Contact ID",
                      reference_to=("Contact",))),
    ),
    _object(
        "Contact", "Contact", "003",
        *_person_fields(),
        _f("AccountId", "reference", label="Account ID", reference_to=("Account",)),
        _f("Birthdate", "date"),
    ),
    _object(
        "Campaign", "Campaign", "701",
        _required("Name", 80, label="Campaign Name", name_field=True),
        _f("IsActive", "boolean", label="Active"),
        _picklist("Status", ("Planned", "In Progress", "Completed", "Aborted"),
                  default="Planned"),
        _picklist("Type", ("Conference", "Webinar", "Advertisement", "Email", "Other")),
        _f("StartDate", "date", label="Start Date"),
        _f("Description", "textarea", length=32000, extra_type_info="plaintextarea"),
        _f("WeChat_Auto_Reply__c", "textarea", length=2000, extra_type_info="plaintextarea"),
    ),
    _object(
        "CampaignMember", "Campaign Member", "00v",
        _f("CampaignId", "reference", label="Campaign ID", reference_to=("Campaign",),
           nillable=False, updateable=False),
        _f("LeadId", "reference", label="Lead ID", reference_to=("Lead",), updateable=False),
        _f("ContactId", "reference", label="Contact ID", reference_to=("Contact",),
           updateable=False),
        _picklist("Status", MEMBER_STATUSES, restricted=True, default="Sent"),
        _read_only(_f("HasResponded", "boolean", label="Responded")),
        one_of_required=("LeadId", "ContactId"),
    ),
    _object(
        "WeChat_Follower__c", "WeChat Follower", "a0B",
        _text("Name", 80, label="Follower Number", createable=False, updateable=False,
              nillable=False, defaulted=True, auto_number=True, name_field=True, id_lookup=True),
        _ext_id("OpenId__c", unique=True),
        _text("UnionId__c", 64),
        _text("Account_Id__c", 32),
        _f("Subscribed__c", "boolean"),
        _f("Subscribed_At__c", "datetime"),
        _f("Unsubscribed_At__c", "datetime"),
        _text("Language__c", 16),
        _text("Remark__c", 255),
        _text("Tags__c", 255),
        _text("Subscribe_Scene__c", 64),
        _text("QR_Scene__c", 64),
        _f("Lead__c", "reference", label="Lead", reference_to=("Lead",)),
        _f("Contact__c", "reference", label="Contact", reference_to=("Contact",)),
        _f("Last_Interaction_At__c", "datetime"),
        plural="WeChat Followers",
    ),
)


class Schema:
    """One sandbox's view of :data:`OBJECTS`, plus fields an admin made required."""

    def __init__(self, objects: tuple[SObject, ...] = OBJECTS) -> None:
        self._objects = {o.name.lower(): o for o in objects}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [o.name for o in self._objects.values()]

    def get(self, name: str) -> SObject | None:
        """The object called ``name`` (case-insensitive), or None."""
        return self._objects.get(name.lower())

    def by_prefix(self, key_prefix: str) -> SObject | None:
        return next((o for o in self._objects.values() if o.key_prefix == key_prefix), None)

    def require(self, sobject: str, names: list[str]) -> None:
        """Make fields non-nillable, as an admin ticking "Required" would.

        Raises:
            KeyError: unknown object, unknown field, or a field that cannot be written.
        """
        with self._lock:
            obj = self._objects.get(sobject.lower())
            if obj is None:
                raise KeyError(f"unknown object {sobject!r}")
            wanted = {}
            for name in names:
                f = obj.field(name)
                if f is None or not (f.createable or f.updateable):
                    raise KeyError(f"no writable field {name!r} on {obj.name}")
                wanted[f.name] = replace(f, nillable=False, defaulted=False)
            fields = tuple(wanted.get(f.name, f) for f in obj.fields)
            self._objects[obj.name.lower()] = replace(obj, fields=fields, by_lower={})
