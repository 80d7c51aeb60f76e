"""The objects and fields the sandbox knows: the single source of truth.

Describe (``describe.py``), write validation (``records.py``) and SOQL (``soql_eval.py``)
all read these definitions, so an admin change simulated with :meth:`Schema.require`
shows up everywhere at once. Definitions are immutable; a :class:`Schema` holds one
sandbox's run-time changes.

Standard fields of standard objects are defined here; every custom object and custom
field comes from the Salesforce metadata admins deploy (``metadata.py`` reads it), turned
into describe terms by :func:`custom_field`.
"""

from __future__ import annotations

import re
import string
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from sandbox.salesforce import metadata
from sandbox.salesforce.metadata import FieldMeta, MetadataError, ObjectMeta

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
    precision: int = 0
    scale: int = 0
    extra_type_info: str | None = None
    display_format: str | None = None

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

    def auto_value(self, n: int) -> str:
        """The ``n``-th value of an auto-number field: ``WF-{000000}`` → ``WF-000042``."""
        return re.sub(r"\{(0+)\}", lambda m: str(n).zfill(len(m.group(1))),
                      self.display_format or "{0}")


@dataclass(frozen=True)
class SObject:
    """One object; ``one_of_required`` lists fields of which at least one must be set."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[Field, ...]
    label_plural: str = ""
    one_of_required: tuple[str, ...] = ()
    # Setup objects the API can only read (AssignmentRule, DuplicateRule).
    read_only: bool = False
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


def _setup_object(name: str, label: str, prefix: str, id_label: str, *fields: Field,
                  deletable: bool) -> SObject:
    """A read-only setup object: every field read-only, and no IsDeleted unless the
    object has one (AssignmentRule has none, DuplicateRule has)."""
    system = tuple(replace(f, label=id_label) if f.name == "Id" else f
                   for f in _system_fields(label) if deletable or f.name != "IsDeleted")
    return SObject(name, label, prefix, system + tuple(_read_only(f) for f in fields),
                   read_only=True)


LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "WeChat")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted")
MEMBER_STATUSES = ("Sent", "Responded", "Scanned", "Subscribed")
_PERSON_NAME = dict(createable=False, updateable=False, name_field=True, defaulted=True)


def _person_fields(custom: tuple[Field, ...]) -> tuple[Field, ...]:
    # Custom fields follow the person fields, where they have always been in the describe.
    return (
        _text("FirstName", 40, label="First Name"),
        _required("LastName", 80, label="Last Name", extra_type_info="personname"),
        _text("Name", 121, label="Full Name", **_PERSON_NAME),
        _f("Email", "email", length=80),
        _f("Phone", "phone", length=40),
        _picklist("LeadSource", LEAD_SOURCES, label="Lead Source"),
        _f("Description", "textarea", length=32000, extra_type_info="plaintextarea"),
    ) + custom


def _standard_objects(custom: dict[str, tuple[Field, ...]]) -> tuple[SObject, ...]:
    """The standard objects, each with the custom fields ``custom`` gives for it."""
    return (
        _object(
            "Account", "Account", "001",
            _required("Name", 255, label="Account Name", name_field=True),
            _f("Phone", "phone", length=40, label="Account Phone"),
            _f("Description", "textarea", length=32000, extra_type_info="plaintextarea"),
            *custom.get("Account", ()),
        ),
        # The org's users, for the parents of CreatedBy, LastModifiedBy and owners (Object
        # Reference, User: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_user.htm).
        # The sandbox makes its two users itself; a new one would need a Profile, which
        # the sandbox has not, so creating a User through the API fails as without one.
        _object(
            "User", "User", "005",
            _required("Username", 80, unique=True),
            _text("FirstName", 40, label="First Name"),
            _required("LastName", 80, label="Last Name"),
            _text("Name", 121, label="Full Name", **_PERSON_NAME),
            _required("Alias", 8),
            _f("Email", "email", length=128, nillable=False),
            _f("IsActive", "boolean", label="Active", default=True),
            _text("Title", 80),
            _f("ProfileId", "reference", label="Profile ID", reference_to=("Profile",),
               nillable=False),
        ),
        _object(
            "Lead", "Lead", "00Q",
            *_person_fields(custom.get("Lead", ())),
            _required("Company", 255),
            _picklist("Status", LEAD_STATUSES, restricted=True, default=LEAD_STATUSES[0]),
            _f("NumberOfEmployees", "int", label="Employees", digits=8),
            _read_only(_f("IsConverted", "boolean", label="Converted")),
            _read_only(_f("ConvertedContactId", "reference", label="Converted Contact ID",
                          reference_to=("Contact",))),
            # The creating user unless given; an assignment rule may set a queue
            # (org_rules.py). Groups and Users are not emulated as objects.
            _f("OwnerId", "reference", label="Owner ID", reference_to=("Group", "User"),
               nillable=False, defaulted=True),
        ),
        _object(
            "Contact", "Contact", "003",
            *_person_fields(custom.get("Contact", ())),
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
            *custom.get("Campaign", ()),
        ),
        _object(
            "CampaignMember", "Campaign Member", "00v",
            _f("CampaignId", "reference", label="Campaign ID", reference_to=("Campaign",),
               nillable=False, updateable=False),
            _f("LeadId", "reference", label="Lead ID", reference_to=("Lead",),
               updateable=False),
            _f("ContactId", "reference", label="Contact ID", reference_to=("Contact",),
               updateable=False),
            _picklist("Status", MEMBER_STATUSES, restricted=True, default="Sent"),
            _read_only(_f("HasResponded", "boolean", label="Responded")),
            *custom.get("CampaignMember", ()),
            one_of_required=("LeadId", "ContactId"),
        ),
        # Products: what a product QR code (the mapping's qr: section) stands for.
        _object(
            "Product2", "Product", "01t",
            _required("Name", 255, label="Product Name", name_field=True),
            _text("ProductCode", 255, label="Product Code"),
            _f("Description", "textarea", length=4000, label="Product Description",
               extra_type_info="plaintextarea"),
            _f("IsActive", "boolean", label="Active"),
            *custom.get("Product2", ()),
        ),
        # A campaign's member statuses; the store keeps one per label per campaign and,
        # once a campaign has any, refuses members with another status.
        _object(
            "CampaignMemberStatus", "Campaign Member Status", "01Y",
            _f("CampaignId", "reference", label="Campaign ID", reference_to=("Campaign",),
               nillable=False, updateable=False),
            _required("Label", 765, label="Member Status"),
            _f("IsDefault", "boolean", label="Default"),
            _f("HasResponded", "boolean", label="Responded"),
            _f("SortOrder", "int", label="Sort Order", digits=9),
            plural="Campaign Member Statuses",
        ),
        # The org's rules, as the API shows them: read only, queryable (Object Reference:
        # AssignmentRule, https://developer.salesforce.com/docs/platform/object-reference/
        # references/standard-objects/object-assignmentrule.html; DuplicateRule, .../
        # object-duplicaterule.html; field lengths from the Field Reference). What the
        # rules do is sandbox.salesforce.org_rules.
        _setup_object(
            "AssignmentRule", "Assignment Rule", "01Q", "Rule ID",
            _text("Name", 120),
            _picklist("SobjectType", ("Case", "Lead"), restricted=True,
                      label="SObject Type"),
            _f("Active", "boolean"),
            deletable=False,
        ),
        _setup_object(
            "DuplicateRule", "Duplicate Rule", "0Bm", "Duplicate Rule ID",
            _required("DeveloperName", 80, label="Object Name"),
            _required("MasterLabel", 80, label="Rule Name"),
            _picklist("SobjectType", ("Account", "Contact", "Lead"), restricted=True,
                      label="Custom Object Definition ID"),
            _f("IsActive", "boolean", label="Active"),
            deletable=True,
        ),
        # Who holds which permission set (Object Reference: PermissionSet,
        # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionset.htm;
        # PermissionSetAssignment, .../sforce_api_objects_permissionsetassignment.htm):
        # made in Setup, read here; the console lets in the holders of the bridge's admin set.
        _setup_object(
            "PermissionSet", "Permission Set", "0PS", "Permission Set ID",
            _required("Name", 80), _required("Label", 80),
            deletable=False,
        ),
        _setup_object(
            "PermissionSetAssignment", "Permission Set Assignment", "0Pa",
            "Permission Set Assignment ID",
            _f("AssigneeId", "reference", label="Assignee ID", reference_to=("User",),
               nillable=False),
            _f("PermissionSetId", "reference", label="Permission Set ID",
               reference_to=("PermissionSet",), nillable=False),
            deletable=False,
        ),
    )


# Metadata API field types -> describe types. Types without a <length> have a fixed one.
_TYPES = {"Text": "string", "Email": "email", "Phone": "phone", "Url": "url",
          "TextArea": "textarea", "LongTextArea": "textarea", "Picklist": "picklist",
          "Checkbox": "boolean", "Date": "date", "DateTime": "datetime", "Number": "double",
          "Lookup": "reference"}
_FIXED_LENGTHS = {"Email": 80, "Phone": 40, "Url": 255, "TextArea": 255}
# A name field has no <length> in metadata; the sandbox has always described it as 80.
_NAME_LENGTH = 80
# Salesforce picks a custom object's key prefix when it is deployed; the sandbox fixes
# them so ids stay stable between runs (tests and recordings know a0B...).
_KEY_PREFIXES = {"WeChat_Follower__c": "a0B", "WeChat_Interaction__c": "a0C",
                 "WeChat_QR_Code__c": "a0D",
                 # fixed, so the spare prefixes of the objects sorted after it stay as they were
                 "WeChat_Keyword_Reply__c": "a0K"}


def custom_field(m: FieldMeta) -> Field:
    """The describe view of one custom field from the metadata.

    Raises:
        MetadataError: a type the sandbox does not emulate (the message names the file).
    """
    kind = _TYPES.get(m.type)
    if kind is None:
        raise MetadataError(f"{m.path}: field type {m.type} is not emulated by the sandbox")
    if kind == "picklist":
        f = _picklist(m.name, m.values, restricted=m.restricted, default=m.default,
                      label=m.label)
        return replace(f, nillable=False) if m.required else f
    kw: dict = dict(label=m.label, nillable=not m.required, external_id=m.external_id,
                    unique=m.unique, case_sensitive=m.case_sensitive, id_lookup=m.external_id)
    if kind in TEXT_TYPES:
        kw["length"] = m.length or _FIXED_LENGTHS[m.type]
    if kind == "textarea":
        kw["extra_type_info"] = "plaintextarea"
    elif kind == "boolean":
        kw["default"] = m.default == "true"
    elif kind == "reference":
        kw["reference_to"] = (m.reference_to,)
    elif kind == "double":
        kw.update(precision=m.precision, scale=m.scale)
    return _f(m.name, kind, **kw)


def _name_field(m: FieldMeta) -> Field:
    """A custom object's ``Name``: an AutoNumber the org fills, or Text the client sets."""
    if m.type == "AutoNumber":
        return _text("Name", _NAME_LENGTH, label=m.label, createable=False, updateable=False,
                     nillable=False, defaulted=True, auto_number=True, name_field=True,
                     id_lookup=True, display_format=m.display_format)
    if m.type == "Text":
        return _required("Name", _NAME_LENGTH, label=m.label, name_field=True)
    raise MetadataError(f"{m.path}: name field type {m.type} is not AutoNumber or Text")


def _custom_object(m: ObjectMeta, key_prefix: str) -> SObject:
    assert m.name_field is not None  # metadata.load refuses a custom object without one
    return _object(m.name, m.label, key_prefix, _name_field(m.name_field),
                   *map(custom_field, m.fields), plural=m.plural_label)


def objects(source_dir: Path = metadata.SOURCE_DIR) -> tuple[SObject, ...]:
    """Every object: the standard ones with their custom fields, then the custom objects,
    all custom parts read from the metadata under ``source_dir``.

    Raises:
        MetadataError: a bad metadata file, or custom fields on a standard object the
            sandbox does not emulate.
    """
    meta = metadata.load(source_dir)
    standard = _standard_objects({name: tuple(map(custom_field, m.fields))
                                  for name, m in meta.items() if not m.custom})
    known = {o.name for o in standard}
    stray = sorted(n for n, m in meta.items() if not m.custom and n not in known)
    if stray:
        raise MetadataError(f"custom fields on {', '.join(stray)}, which the sandbox does "
                            "not emulate")
    spare = (p for p in (f"a0{c}" for c in string.ascii_uppercase)
             if p not in _KEY_PREFIXES.values())
    custom = [m for m in meta.values() if m.custom]
    return standard + tuple(_custom_object(m, _KEY_PREFIXES.get(m.name) or next(spare))
                            for m in custom)


OBJECTS: tuple[SObject, ...] = objects()


class Schema:
    """One sandbox's view of :data:`OBJECTS`, plus fields an admin made required."""

    def __init__(self, objects: tuple[SObject, ...] = OBJECTS) -> None:
        self._objects = {o.name.lower(): o for o in objects}
        self._shipped = dict(self._objects)  # as delivered: what `unrequire` goes back to
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

    def unrequire(self, sobject: str, name: str) -> None:
        """Untick "Required" on a field made required by :meth:`require`: the field is as
        the schema shipped it again (a field required by Salesforce itself stays so).

        Raises:
            KeyError: unknown object or field.
        """
        with self._lock:
            obj = self._objects.get(sobject.lower())
            if obj is None:
                raise KeyError(f"unknown object {sobject!r}")
            current = obj.field(name)
            if current is None:
                raise KeyError(f"no field {name!r} on {obj.name}")
            shipped = self._shipped[obj.name.lower()].field(current.name) or current
            fields = tuple(shipped if f.name == current.name else f for f in obj.fields)
            self._objects[obj.name.lower()] = replace(obj, fields=fields, by_lower={})
