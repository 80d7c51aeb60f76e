"""Read the bridge's Salesforce metadata (the DX source folder an admin deploys).

``salesforce/force-app`` at the repository root holds the custom object and the custom
fields the bridge needs, in Metadata API source format. The sandbox builds its describe of
every custom part from these files (see ``schema.objects``), so what the tests run against
is what admins deploy. This module only reads the files; what a field looks like in a
describe is decided in ``schema.py``.

The folder is the repository's when the project runs from it (an editable install); a
wheel carries a copy inside this package (``pyproject.toml``, force-include), used when
there is no repository around it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 -- our own files, not untrusted input
from dataclasses import dataclass
from pathlib import Path

NS = "http://soap.sforce.com/2006/04/metadata"
PROJECT_DIR = Path(__file__).resolve().parents[2] / "salesforce"
SHIPPED_DIR = Path(__file__).resolve().parent / "force-app"  # in a wheel
SOURCE_DIR = SHIPPED_DIR if SHIPPED_DIR.is_dir() else PROJECT_DIR / "force-app"
OBJECTS_SUBDIR = Path("main", "default", "objects")


class MetadataError(ValueError):
    """A metadata file is missing, malformed or lacks an element the sandbox needs."""


@dataclass(frozen=True)
class FieldMeta:
    """One ``CustomField`` (or a custom object's ``nameField``), Metadata API names kept.

    ``type`` is the Metadata API type (Text, Checkbox, Lookup...); ``default`` is the raw
    ``defaultValue`` (for a Picklist: the value marked ``default``); ``values`` are a
    Picklist's values, in order.
    """

    name: str
    type: str
    label: str
    path: Path
    length: int = 0
    precision: int = 0
    scale: int = 0
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    required: bool = False
    reference_to: str | None = None
    default: str | None = None
    display_format: str | None = None
    values: tuple[str, ...] = ()
    restricted: bool = False


@dataclass(frozen=True)
class ObjectMeta:
    """One folder under ``objects/``: a custom object (with its ``.object-meta.xml``), or
    a standard object that only gains custom fields (``label`` and ``name_field`` empty)."""

    name: str
    fields: tuple[FieldMeta, ...]
    label: str = ""
    plural_label: str = ""
    name_field: FieldMeta | None = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")


def load(source_dir: Path = SOURCE_DIR) -> dict[str, ObjectMeta]:
    """Every object folder under ``source_dir`` (a package directory such as force-app),
    by object name, each with its fields sorted by file name.

    Raises:
        MetadataError: the folder is missing, or a file is malformed or incomplete (the
            message names the file).
    """
    objects_dir = Path(source_dir) / OBJECTS_SUBDIR
    if not objects_dir.is_dir():
        raise MetadataError(f"no Salesforce metadata at {objects_dir} (the sandbox reads "
                            "the repository's salesforce/force-app, or the copy a wheel "
                            "carries)")
    return {d.name: _object(d) for d in sorted(objects_dir.iterdir()) if d.is_dir()}


def _object(folder: Path) -> ObjectMeta:
    fields = tuple(_field(_root(p, "CustomField"), p)
                   for p in sorted(folder.glob("fields/*.field-meta.xml")))
    if not folder.name.endswith("__c"):
        return ObjectMeta(folder.name, fields)
    path = folder / f"{folder.name}.object-meta.xml"
    if not path.is_file():
        raise MetadataError(f"{path}: missing (a custom object needs its object file)")
    root = _root(path, "CustomObject")
    name_el = root.find(_tag("nameField"))
    if name_el is None:
        raise MetadataError(f"{path}: <nameField> missing")
    name_field = _field(name_el, path, name="Name")
    return ObjectMeta(folder.name, fields, label=_text(root, "label", path),
                      plural_label=_text(root, "pluralLabel", path), name_field=name_field)


def _field(el: ET.Element, path: Path, name: str | None = None) -> FieldMeta:
    """A field from a ``CustomField`` root or a ``nameField`` (whose name is ``Name``)."""
    if name is None:
        name = _text(el, "fullName", path)
        if path.name != f"{name}.field-meta.xml":
            raise MetadataError(f"{path}: fullName {name!r} does not match the file name")
    type_ = _text(el, "type", path)
    values, default = _picklist(el) if type_ in ("Picklist", "MultiselectPicklist") else ((), None)
    if type_ == "Picklist" and not values:
        raise MetadataError(f"{path}: a Picklist needs <valueSet> values")
    if type_ == "Lookup" and _opt(el, "referenceTo") is None:
        raise MetadataError(f"{path}: a Lookup needs <referenceTo>")
    if type_ in ("Text", "LongTextArea") and _opt(el, "length") is None:
        raise MetadataError(f"{path}: a {type_} field needs <length>")
    return FieldMeta(
        name=name, type=type_, label=_text(el, "label", path), path=path,
        length=_int(el, "length", path), precision=_int(el, "precision", path),
        scale=_int(el, "scale", path), external_id=_bool(el, "externalId"),
        unique=_bool(el, "unique"), case_sensitive=_bool(el, "caseSensitive"),
        required=_bool(el, "required"), reference_to=_opt(el, "referenceTo"),
        default=default if values else _opt(el, "defaultValue"),
        display_format=_opt(el, "displayFormat"), values=values,
        restricted=_bool(el, "valueSet/restricted"),
    )


def _picklist(el: ET.Element) -> tuple[tuple[str, ...], str | None]:
    entries = el.findall(_tag("valueSet/valueSetDefinition/value"))
    values = tuple(_opt(v, "fullName") or "" for v in entries)
    default = next((_opt(v, "fullName") for v in entries if _bool(v, "default")), None)
    return values, default


def _root(path: Path, kind: str) -> ET.Element:
    try:
        root = ET.parse(path).getroot()  # noqa: S314 -- our own files
    except ET.ParseError as exc:
        raise MetadataError(f"{path}: not well-formed XML ({exc})") from exc
    if root.tag != _tag(kind):
        raise MetadataError(f"{path}: root element is {root.tag}, expected {_tag(kind)}")
    return root


def _tag(path: str) -> str:
    """``a/b`` with every step in the metadata namespace, for ``find``."""
    return "/".join(f"{{{NS}}}{step}" for step in path.split("/"))


def _opt(el: ET.Element, path: str) -> str | None:
    found = el.find(_tag(path))
    return None if found is None or found.text is None else found.text.strip()


def _text(el: ET.Element, name: str, path: Path) -> str:
    value = _opt(el, name)
    if not value:
        raise MetadataError(f"{path}: <{name}> missing or empty")
    return value


def _int(el: ET.Element, name: str, path: Path) -> int:
    value = _opt(el, name)
    try:
        return int(value) if value else 0
    except ValueError:
        raise MetadataError(f"{path}: <{name}> is not a whole number: {value!r}") from None


def _bool(el: ET.Element, name: str) -> bool:
    return _opt(el, name) == "true"
