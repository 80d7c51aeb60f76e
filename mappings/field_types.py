"""What kind of value a field rule produces, and which Salesforce field types accept it.

Pure tables for the checks against the org (``mappings/org_check.py``). A rule's value is
described by a :class:`Produced`: its kind (text, true/false, a number, a date...) and the
most characters it can take as text, so a check can tell "follower.subscribed cannot go
into a date field" or "tag names joined can exceed 255 characters" before any event runs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from mappings.models import TEMPLATE_SLOT, FieldRule
from mappings.transforms import apply_chain, parse_chain

Kind = Literal["text", "bool", "int", "double", "date", "datetime", "id", "list", "any"]

# How messages name each kind, in an admin's words.
KIND_WORDS = {"text": "text", "bool": "true/false", "int": "a whole number",
              "double": "a number", "date": "a date", "datetime": "a date/time",
              "id": "a record id", "list": "a list", "any": "a value"}

# Longest text form of the non-text kinds ("false", unix seconds, ISO date/time, record id).
_TEXT_LENGTH = {"bool": 5, "int": 11, "double": 24, "date": 10, "datetime": 20, "id": 18}


@dataclass(frozen=True)
class Produced:
    """The value a rule gives, as far as it is known before any event.

    ``max_len``: the most characters it can have (None: no known bound); for a list, the
    most characters of one item, and ``items`` the most items. ``constant``: the value is
    fixed (``value`` holds it). ``what``: how messages name it.
    """

    kind: Kind
    max_len: int | None = None
    items: int = 0
    what: str = ""
    constant: bool = False
    value: Any = None


# Every source of ``models.SOURCES``, with the bounds WeChat documents: OpenIDs and
# UnionIDs are 28 characters, a remark at most 30, a follower at most 20 tags of at most
# 30 characters, a QR scene string 1-64 characters, EventKey of a VIEW event a URL.
SOURCE_VALUES: dict[str, Produced] = {
    "follower.openid": Produced("text", 28),
    "follower.unionid": Produced("text", 28),
    "follower.subscribed": Produced("bool"),
    "follower.subscribe_time": Produced("int"),
    "follower.language": Produced("text", 5),
    "follower.remark": Produced("text", 30),
    "follower.tag_ids": Produced("list", 10, items=20),
    "follower.tag_names": Produced("list", 30, items=20),
    "follower.subscribe_scene": Produced("text", 30),
    "follower.qr_scene": Produced("int"),
    "follower.qr_scene_str": Produced("text", 64),
    "event.account": Produced("text", 15),
    "event.openid": Produced("text", 28),
    "event.create_time": Produced("int"),
    "event.msg_type": Produced("text", 10),
    "event.event": Produced("text", 32),
    "event.event_key": Produced("text", 1024),
    "event.scene": Produced("text", 64),
    "event.msg_id": Produced("text", 20),
    "event.kind": Produced("text", 40),
    "event.dedupe_key": Produced("text", 47),
    "event.content": Produced("text", 2048),  # no documented limit; long texts happen
    "event.menu_key": Produced("text", 128),
    "event.url": Produced("text", 1024),
    "event.latitude": Produced("double", 24),  # decimal text, which Salesforce reads
    "event.longitude": Produced("double", 24),
    "event.label": Produced("text", 255),
    "event.email": Produced("text", 80),  # Salesforce's Email length
    "event.phone": Produced("text", 40),  # Salesforce's Phone length
    "event.channel": Produced("text", 64),  # a scene string is at most 64 characters
    "event.interaction_time": Produced("int"),
    "event.status": Produced("text", 64),
    # media messages: WeChat's media ids are 64 characters today; room for a longer one
    "event.media_id": Produced("text", 128),
    "event.media_format": Produced("text", 16),
    "event.thumb_media_id": Produced("text", 128),
    "event.picture_url": Produced("text", 1024),
    "event.recognition": Produced("text", 2048),
    "campaign.id": Produced("id", 18),
}

# Field types (describe ``type``) that store text; they take any single value as text.
TEXT_FIELDS = frozenset({"string", "textarea", "email", "phone", "url", "picklist",
                         "combobox", "encryptedstring"})
_SCALARS = frozenset({"text", "bool", "int", "double", "date", "datetime", "id"})
# What each field type accepts. Types not listed (time, base64, address...) are not
# checked; reference fields accept nothing from a rule: they are set through ``link``.
ACCEPTS: dict[str, frozenset[str]] = {
    **{t: _SCALARS for t in TEXT_FIELDS},
    "multipicklist": frozenset({"text"}),
    "boolean": frozenset({"bool"}),
    "int": frozenset({"int"}),
    "double": frozenset({"int", "double"}),
    "currency": frozenset({"int", "double"}),
    "percent": frozenset({"int", "double"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "reference": frozenset(),
    "id": frozenset(),
}
# How to give a field of each type a value it accepts: the hint of a type mismatch.
HOW_TO_FILL = {
    "boolean": "give true or false, e.g. { value: true } or { source: follower.subscribed }",
    "date": "use a unix time with transform: unix_to_date, e.g. { source: "
            "follower.subscribe_time, transform: unix_to_date }, or a date like 2024-01-31",
    "datetime": "use a unix time with transform: unix_to_datetime, e.g. { source: "
                "event.create_time, transform: unix_to_datetime }",
    "int": "give a whole number",
    "double": "give a number",
    "currency": "give a number",
    "percent": "give a number",
    "multipicklist": "give text, or a list with transform: \"join(;)\"",
    "reference": "lookups are set by the bridge: name the field under follower.link",
    "id": "the record id is set by Salesforce; remove the rule",
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def of_constant(value: Any, label: str = "the constant") -> Produced:
    """A constant as YAML parsed it. An ISO date or date/time text counts as one.

    Messages name it as ``label`` and its value (cut short when long).
    """
    shown = repr(value)
    what = f"{label} {shown if len(shown) <= 40 else shown[:37] + '...'}"
    if isinstance(value, bool):
        kind: Kind = "bool"
    elif isinstance(value, int):
        kind = "int"
    elif isinstance(value, float):
        kind = "double"
    elif isinstance(value, dt.datetime):
        kind = "datetime"
    elif isinstance(value, dt.date):
        kind = "date"
    elif isinstance(value, list | tuple):
        return Produced("list", max((len(str(v)) for v in value), default=0),
                        items=len(value), what=what, constant=True, value=value)
    elif isinstance(value, str) and _ISO_DATETIME.match(value):
        kind = "datetime"
    elif isinstance(value, str) and _ISO_DATE.match(value):
        kind = "date"
    else:
        kind = "text" if isinstance(value, str) else "any"
    return Produced(kind, len(str(value)), what=what, constant=True, value=value)


def _step(value: Produced, name: str, arg: str | None, fit_to: int | None) -> Produced:
    """``value`` after one transform of a source (constants are computed instead);
    ``fit_to``: the target field's length, which ``fit`` cuts to (None: not cut).

    Raises:
        ValueError: the transform cannot apply to this kind of value.
    """
    if name in ("unix_to_datetime", "unix_to_date"):
        if value.kind not in ("int", "any"):
            raise ValueError(
                f"{name} needs unix seconds (follower.subscribe_time or event.create_time), "
                f"but {value.what} gives {KIND_WORDS[value.kind]}")
        kind: Kind = "datetime" if name == "unix_to_datetime" else "date"
        return replace(value, kind=kind, max_len=_TEXT_LENGTH[kind])
    length = _text_length(value)
    if name == "join":
        if value.kind != "list" or not value.items or value.max_len is None:
            return replace(value, kind="text", max_len=None if value.kind == "list" else length,
                           items=0)
        sep = arg if arg is not None else ";"
        joined = value.items * value.max_len + (value.items - 1) * len(sep)
        return replace(value, kind="text", max_len=joined, items=0)
    if name == "split":  # text → a list of unknown size; a list stays as it is
        return value if value.kind == "list" else replace(value, kind="list", items=0)
    if value.kind == "list":
        raise ValueError(f"{value.what} is a list: join it first, e.g. transform: "
                         f"\"join(;)|{name}{'(' + arg + ')' if arg else ''}\"")
    if name in ("truncate", "truncate_bytes") and arg is not None and arg.isdigit():
        # a cut to n bytes keeps at most n characters too
        cut = int(arg) if length is None else min(length, int(arg))
        return replace(value, kind="text", max_len=cut)
    if name == "fit":
        cut = fit_to if length is None or fit_to is None else min(length, fit_to)
        return replace(value, kind="text", max_len=cut)
    if name == "sha256":
        return replace(value, kind="text", max_len=64)
    if name in ("regex", "lower", "upper", "trim"):
        return replace(value, kind="text" if name == "regex" else value.kind)
    return Produced("any", what=value.what)  # a transform this table does not know yet


def _text_length(value: Produced) -> int | None:
    """Most characters of ``value`` written as text."""
    return value.max_len if value.kind == "text" else _TEXT_LENGTH.get(value.kind)


def produced(rule: FieldRule, fit_to: int | None = None) -> Produced:
    """What ``rule`` writes before its ``map`` (the map's values and the ``default`` are
    constants: see :func:`of_constant`), into a field of ``fit_to`` characters (for
    ``fit``; None: a field without a length).

    Raises:
        ValueError: the transform chain cannot apply to the source or constant; the
            message names the transform and what to use instead.
    """
    chain = f" | {rule.transform}" if rule.transform else ""
    if rule.value is not None:
        try:
            value = apply_chain(rule.transform, rule.value, fit_to)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"transform {rule.transform!r} cannot apply to the constant "
                             f"{rule.value!r}: {exc}") from None
        return of_constant(value)
    if rule.template is not None:
        value = _template(rule.template)
        value = replace(value, what=f"the template {rule.template!r}{chain}")
    elif rule.coalesce is not None:
        value = replace(_coalesced(rule.coalesce), what=f"coalesce {rule.coalesce}{chain}")
    else:
        value = replace(SOURCE_VALUES.get(rule.source or "", Produced("any")),
                        what=f"{rule.source}{chain}")
    for name, arg in parse_chain(rule.transform) if rule.transform else ():
        value = _step(value, name, arg, fit_to)
    return replace(value, max_len=_text_length(value))


def _coalesced(sources: list[str]) -> Produced:
    """One of the sources' values: their kind when they share one (else any), and the
    longest of their lengths."""
    values = [SOURCE_VALUES.get(src, Produced("any")) for src in sources]
    kinds = {v.kind for v in values}
    lengths = [_text_length(v) for v in values]
    longest = None if None in lengths else max(lengths)
    return Produced(kinds.pop() if len(kinds) == 1 else "any", longest)


def _template(template: str) -> Produced:
    """Text: the template's own characters plus each slot's longest text."""
    total: int | None = len(TEMPLATE_SLOT.sub("", template))
    for slot in TEMPLATE_SLOT.findall(template):
        length = _text_length(SOURCE_VALUES.get(slot.strip(), Produced("any")))
        total = None if total is None or length is None else total + length
    return Produced("text", total)


def accepts(field_type: str, value: Produced) -> bool:
    """Whether a field of describe type ``field_type`` takes ``value`` (unknown: yes)."""
    allowed = ACCEPTS.get(field_type)
    return allowed is None or value.kind == "any" or value.kind in allowed


def mismatch_hint(field_type: str, value: Produced) -> str:
    """How to fix ``value`` going into a field of ``field_type`` that does not take it."""
    if value.kind == "list" and field_type in TEXT_FIELDS | {"multipicklist"}:
        return "add transform: \"join(;)\" to write the list as text"
    return HOW_TO_FILL.get(field_type, "use a text source")


# -- describe field entries (fields[] of GET sobjects/{name}/describe) ----------------------

def picklist_values(field: dict) -> list[str]:
    """The active values of a describe field entry's picklist."""
    return [v["value"] for v in field.get("picklistValues") or () if v.get("active", True)]


_REQUIRED_TEXT = {"type": "string", "createable": True, "nillable": False,
                  "defaultedOnCreate": False}
_LAST_NAME = {**_REQUIRED_TEXT, "name": "LastName", "length": 80, "extraTypeInfo": "personname"}
# Describes of what every org requires on create, for checks without an org.
WELL_KNOWN_REQUIRED: dict[str, dict] = {
    "Lead": {"name": "Lead", "fields": [
        _LAST_NAME, {**_REQUIRED_TEXT, "name": "Company", "length": 255}]},
    "Contact": {"name": "Contact", "fields": [_LAST_NAME]},
}


def required_on_create(field: dict) -> bool:
    """Salesforce refuses a create without it (reference V4)."""
    return (field.get("createable", False) and not field.get("nillable", True)
            and not field.get("defaultedOnCreate", False) and field.get("type") != "boolean")


def sample_constant(field: dict) -> str:
    """A constant ``field`` accepts, as YAML, for hints."""
    values = picklist_values(field)
    if field.get("extraTypeInfo") == "personname":
        return '"WeChat Follower"'
    if values:
        return f'"{values[0]}"'
    if field.get("type") in TEXT_FIELDS:
        return '"WeChat"'
    samples = {"boolean": "true", "date": "2024-01-31", "datetime": "2024-01-31T00:00:00Z"}
    return samples.get(field.get("type", ""), "0")


def with_fit(rule: FieldRule | None) -> str:
    """The rule's transform chain with ``fit`` added: the fix to suggest for a value that
    can be longer than its field."""
    chain = rule.transform if rule and rule.transform else ""
    return f"{chain}|fit" if chain else "fit"
