"""The field checks behind ``mappings/org_check.py``: one mapping (the top-level one or
one account's effective mapping) against the org's describe — objects and fields exist,
writes fit their fields, keys and links are right, required fields are filled — each
problem with its line. ``mappings/policy_checks.py`` checks the matching and campaign
policies with the same checker.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mappings.field_types import (
    KIND_WORDS,
    SOURCE_VALUES,
    TEXT_FIELDS,
    Produced,
    accepts,
    mismatch_hint,
    of_constant,
    picklist_values,
    produced,
    required_on_create,
    sample_constant,
    with_fit,
)
from mappings.loader import locate
from mappings.models import ORIGINS, FieldRule, FieldUse, Mapping
from mappings.vocabulary import ALWAYS_GIVEN

Severity = Literal["error", "warning"]
Describe = Callable[[str], dict | None]
# Suggestions for a misspelt object when the org's list of objects is not given: the
# objects the bridge uses, including the custom one the README has admins create.
KNOWN_OBJECTS = ("Account", "Campaign", "CampaignMember", "Contact", "Lead",
                 "WeChat_Follower__c")


@dataclass(frozen=True, order=True)
class Problem:
    """One finding; ``str()`` gives ``file:line:column: severity: text``."""

    line: int
    column: int
    severity: Severity
    text: str
    path: Path = Path("mapping.yaml")

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.text}"

def _dotted(key_path: tuple) -> str:
    return ".".join(str(p) for p in key_path)


def _example(field: dict) -> str:
    """A rule that fills ``field``, for the hint of a missing required field."""
    if field.get("extraTypeInfo") == "personname":
        return '{ source: follower.remark, default: "WeChat Follower" }'
    return f"{{ value: {sample_constant(field)} }}"


class Checker:
    """One mapping against the org's describe: :meth:`report` records a problem at a
    key path (with its file line), :meth:`describe` reads an object once, :meth:`run`
    makes the field checks (``mappings/policy_checks.py`` adds the policies')."""

    def __init__(self, mapping: Mapping, text: str, path: Path, describe: Describe,
                 objects: Iterable[str] | None,
                 where: Callable[[tuple], tuple] = lambda key_path: key_path) -> None:
        self.mapping, self.text, self.path, self.where = mapping, text, path, where
        self._describe = describe
        self._org_objects = list(objects) if objects is not None else None
        self._described: dict[str, dict | None] = {}
        self.problems: list[Problem] = []

    # -- reporting ---------------------------------------------------------------------

    def report(self, key_path: tuple, severity: Severity, message: str) -> None:
        key_path = self.where(key_path)  # the mapping's path → the file's
        line, column = locate(self.text, key_path)
        self.problems.append(Problem(line, column, severity,
                                     f"{_dotted(key_path)}: {message}", self.path))

    # -- objects and fields ------------------------------------------------------------

    def describe(self, name: str) -> dict | None:
        if name not in self._described:
            self._described[name] = self._describe(name)
        return self._described[name]

    def _named_objects(self) -> list[tuple[str, tuple]]:
        """(object, the first key path naming it), in file order."""
        m = self.mapping
        named = [(m.follower.object, ("follower", "object"))]
        named += [(r.object, ("match", i, "object")) for i, r in enumerate(m.match)]
        named += [(obj, ("objects", obj)) for obj in m.objects]
        if m.create:
            named.append((m.create, ("create",)))
        if m.campaigns.status:
            named.append(("CampaignMember", ("campaigns", "status")))
        first: dict[str, tuple] = {}
        for obj, key_path in named:
            first.setdefault(obj, key_path)
        return list(first.items())

    def check_objects(self) -> None:
        for name, key_path in self._named_objects():
            info = self.describe(name)
            if info is None:
                self.report(key_path, "error", f"unknown object '{name}'"
                            + self._suggest(name, self._object_choices())
                            + " — check the API name in Setup › Object Manager")
            elif info.get("name", name) != name:
                self.report(key_path, "error", f"the org spells the object '{info['name']}', "
                            f"not '{name}' — did you mean '{info['name']}'?")

    def _object_choices(self) -> list[str]:
        if self._org_objects is not None:
            return self._org_objects
        # only those the org has: a suggestion must be a name the org would accept
        return [n for n in sorted(set(KNOWN_OBJECTS) | set(self._described))
                if self.describe(n) is not None]

    @staticmethod
    def _suggest(name: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        lower = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
        return f" — did you mean '{lower[close[0]]}'?" if close else ""

    def field(self, use: FieldUse) -> dict | None:
        """The org's entry for ``use.field``; reports an unknown or misspelt field."""
        info = self.describe(use.object)
        if info is None:
            return None  # reported once, by check_objects
        fields = {f["name"]: f for f in info.get("fields", [])}
        if use.field in fields:
            return fields[use.field]
        same = next((f for n, f in fields.items() if n.lower() == use.field.lower()), None)
        if same is not None:
            self.report(use.path, "error",
                        f"the org spells the field {use.object}.{same['name']}, not "
                        f"'{use.field}' — did you mean '{same['name']}'? (Salesforce names "
                        "are case-insensitive, but the bridge matches them exactly)")
            return same
        self.report(use.path, "error", f"unknown field '{use.field}' on {use.object}"
                    + self._suggest(use.field, fields)
                    + f" — see Setup › Object Manager › {use.object} › Fields & Relationships")
        return None

    # -- writes ------------------------------------------------------------------------

    def _needs(self, use: FieldUse) -> tuple[bool, bool]:
        """(needs createable, needs updateable) for a write or link."""
        if use.object == self.mapping.follower.object and use.path[0] in ("follower", "events"):
            # The follower record is upserted with its fields on every event, whatever
            # their ``on:``, so they must be settable both when created and when updated.
            return True, True
        on = use.rule.on if use.rule else "create"
        created = use.object == self.mapping.create
        return created, on == "always"

    def check_writable(self, use: FieldUse, field: dict) -> None:
        name = f"{use.object}.{field['name']}"
        if field.get("calculated") or field.get("autoNumber"):
            why = "a formula" if field.get("calculated") else "an auto-number"
            self.report(use.path, "error", f"{name} is not writable: it is {why} field "
                        "that Salesforce computes — remove it from the mapping")
            return
        create, update = self._needs(use)
        createable, updateable = field.get("createable"), field.get("updateable")
        if (create or update) and not createable and not updateable:
            self.report(use.path, "error", f"{name} is not writable — remove it from the "
                        "mapping, or give the integration user edit access to it "
                        "(field-level security)")
        elif create and not createable:
            fix = ("use on: always" if use.path[0] == "objects"
                   else "make it editable on create for the integration user")
            self.report(use.path, "error", f"{name} cannot be set when a {use.object} is "
                        f"created — {fix}")
        elif update and not updateable:
            fix = ("use on: create" if use.path[0] == "objects"
                   else "the follower record is updated on every event; remove the rule")
            self.report(use.path, "error", f"{name} can be set only when a {use.object} is "
                        f"created — {fix}")
        if use.path[0] == "objects" and not create and not update:
            self.report(use.path, "warning", f"never written: the bridge creates only "
                        f"{self.mapping.create} records, and on: create rules of "
                        f"{use.object} apply to created records — use on: always to update "
                        f"matched {use.object}s")

    def check_value(self, key_path: tuple, use: FieldUse, field: dict, value: Produced) -> None:
        """Type, picklist and length of ``value`` written to ``field``."""
        name, ftype = f"{use.object}.{field['name']}", field.get("type", "")
        if ftype == "reference":
            self.report(key_path, "error", f"{name} is a lookup to "
                        f"{' or '.join(field.get('referenceTo') or ['a record'])}; lookups to "
                        "the person are set through follower.link, not as a field rule")
            return
        if not accepts(ftype, value):
            self.report(key_path, "error", f"{name} is a {ftype} field, but {value.what} "
                        f"gives {KIND_WORDS[value.kind]} — {mismatch_hint(ftype, value)}")
            return
        if value.constant and ftype in ("picklist", "multipicklist"):
            self._check_picklist(key_path, name, field, value.value)
        length = field.get("length") or 0
        if ftype not in TEXT_FIELDS or ftype == "picklist" or not length:
            return
        if value.constant and value.max_len and value.max_len > length:
            self.report(key_path, "error", f"{value.what} is {value.max_len} characters; "
                        f"{name} holds at most {length} — shorten it")
        elif not value.constant and value.max_len and value.max_len > length:
            self.report(key_path, "warning", f"{value.what} can be up to {value.max_len} "
                        f"characters; {name} holds {length} — add fit, which cuts to the "
                        f"field's length: transform: \"{with_fit(use.rule)}\"")

    def _check_picklist(self, key_path: tuple, name: str, field: dict, constant: Any) -> None:
        values = picklist_values(field)
        chosen = str(constant).split(";") if field["type"] == "multipicklist" else [constant]
        for item in chosen:
            if str(item) in values:
                continue
            restricted = field.get("restrictedPicklist", False)
            same = next((v for v in values if v.lower() == str(item).lower()), None)
            hint = f"did you mean '{same}'?" if same else f"use one of: {', '.join(values)}"
            consequence = ("Salesforce refuses other values (restricted picklist)" if restricted
                           else "other values are kept but show up nowhere in reports")
            self.report(key_path, "error" if restricted else "warning",
                        f"'{item}' is not a value of {name} — {hint} ({consequence})")

    def check_write(self, use: FieldUse, field: dict) -> None:
        self.check_writable(use, field)
        rule = use.rule
        if rule is None:
            return
        length = field.get("length") if field.get("type") in TEXT_FIELDS else None
        try:
            value = produced(rule, length or None)
        except ValueError as exc:
            self.report(use.path + ("transform",), "error", str(exc))
            return
        if rule.map is not None:  # what is written is one of the map's values
            for key, mapped in rule.map.items():
                self.check_value(use.path + ("map", key), use, field,
                                 of_constant(mapped, "the map value"))
        else:
            origin = next(k for k in ORIGINS if getattr(rule, k) is not None)
            origin = "transform" if rule.transform and origin != "value" else origin
            self.check_value(use.path + (origin,), use, field, value)
        if rule.default is not None:
            self.check_value(use.path + ("default",), use, field,
                             of_constant(rule.default, "the default"))

    # -- keys, links and matches -------------------------------------------------------

    def check_key(self, use: FieldUse, field: dict, source: str) -> None:
        """An upsert key: an external id, unique, case-sensitive, settable on create."""
        name = f"{use.object}.{field['name']}"
        if not (field.get("externalId") or field.get("idLookup")):
            self.report(use.path, "error", f"{name} is not an External ID field, so "
                        f"{use.object} records cannot be upserted by it — tick \"External "
                        "ID\", \"Unique\" and \"case sensitive\" on the field in Setup, or "
                        "name a field that is")
            return
        if not field.get("createable"):
            self.report(use.path, "error", f"{name} cannot be set when a record is created, "
                        "so it cannot be the upsert key — give the integration user edit "
                        "access to it")
        if not field.get("unique"):
            self.report(use.path, "warning", f"{name} is not Unique: two records could carry "
                        "the same OpenID and the upsert then fails — tick \"Unique\" on it")
        if not field.get("caseSensitive"):
            self.report(use.path, "warning", f"{name} is not case sensitive, but OpenIDs are "
                        "('oAbc' and 'oabc' are different people) — choose \"Treat ABC and "
                        "abc as different values (case sensitive)\" on it")
        value = SOURCE_VALUES.get(source, Produced("any"))
        length = field.get("length") or 0
        if field.get("type") in TEXT_FIELDS and length and (value.max_len or 0) > length:
            self.report(use.path, "error", f"{name} holds {length} characters, but {source} "
                        f"values are up to {value.max_len} — make the field longer")

    def check_link(self, use: FieldUse, field: dict, target: str) -> None:
        name = f"{use.object}.{field['name']}"
        refs = field.get("referenceTo") or []
        if field.get("type") != "reference" or target not in refs:
            what = f"a lookup to {' or '.join(refs)}" if refs else "not a lookup field"
            info = self.describe(use.object) or {}
            options = [f["name"] for f in info.get("fields", [])
                       if target in (f.get("referenceTo") or []) and f.get("createable")]
            hint = (f"did you mean '{options[0]}'?" if options
                    else f"create a lookup field to {target} on {use.object}")
            self.report(use.path, "error", f"{name} is {what}, not a lookup to {target} — "
                        f"{hint}")
            return
        self.check_writable(use, field)

    def check_match(self, use: FieldUse, field: dict) -> None:
        name = f"{use.object}.{field['name']}"
        if not field.get("filterable", True):
            self.report(use.path, "error", f"{name} cannot be used in a query filter "
                        f"({field.get('type')}) — match on a text field marked External ID")
        elif field.get("type") not in TEXT_FIELDS | {"id"}:
            self.report(use.path, "error", f"{name} is a {field.get('type')} field; the "
                        "bridge looks people up by text (the OpenID) — match on a text field")

    # -- the record as a whole ---------------------------------------------------------

    def check_required(self, obj: str, rules: dict[str, FieldRule], always: set[str],
                       section: tuple) -> None:
        """Fields Salesforce requires on create that ``rules`` may leave blank."""
        info = self.describe(obj)
        if info is None:
            return
        where = "follower.fields" if section[0] == "follower" else f"objects.{obj}"
        given = {n.lower(): (n, r) for n, r in rules.items() if r.conflict != "dont_sync"}
        filled = {a.lower() for a in always}
        for field in info.get("fields", []):
            key = field["name"].lower()
            if not required_on_create(field) or key in filled:
                continue
            rule_name, rule = given.get(key, (None, None))
            if rule is not None and (rule.value is not None or rule.default is not None
                                     or never_blank(rule)):
                continue
            if rule is not None:
                origin = rule.source or (f"the template {rule.template!r}" if rule.template
                                         else f"coalesce {rule.coalesce}")
                self.report(section + (rule_name,), "error",
                            f"{obj}.{field['name']} is required when a {obj} is created, but "
                            f"{origin} can be blank — add a default, e.g. "
                            f"default: {sample_constant(field)}")
            else:
                self.report(section, "error",
                            f"{obj}.{field['name']} is required when a {obj} is created and "
                            f"the mapping does not fill it — add {field['name']}: "
                            f"{_example(field)} under {where}")

    def run(self) -> list[Problem]:
        m = self.mapping
        self.check_objects()
        key_rule = m.create_key()
        key_index = m.match.index(key_rule) if key_rule else None
        for use in m.field_uses():
            field = self.field(use)
            if field is None:
                continue
            if use.use == "write":
                rule = use.rule  # None: a value the bridge computes (member touches...)
                if rule is None or (rule.sync != "to_wechat" and rule.conflict != "dont_sync"):
                    self.check_write(use, field)  # not: only read, or never written
            elif use.use == "key":  # a capture record is keyed by its event's dedupe key
                captured = use.path[0] == "capture"
                self.check_key(use, field, "event.dedupe_key" if captured else "follower.openid")
            elif use.use == "link":  # a capture links to the follower, a follower to a person
                target = m.follower.object if use.path[0] == "capture" else str(use.path[-1])
                self.check_link(use, field, target)
            elif use.use == "match":
                self.check_match(use, field)
                if use.path[1] == key_index and key_rule is not None:
                    self.check_key(use, field, key_rule.source)
        self.check_create_required()
        self.check_required(m.follower.object, m.follower.fields, {m.follower.external_id},
                            ("follower", "fields") if m.follower.fields else ("follower",))
        return self.problems

    def check_create_required(self) -> None:
        """The created object's required fields get a value (its upsert key always does)."""
        m = self.mapping
        if m.create:
            key_rule = m.create_key()
            section = ("objects", m.create) if m.create in m.objects else ("create",)
            always = {key_rule.field} if key_rule else set()
            self.check_required(m.create, m.objects.get(m.create, {}), always, section)


def never_blank(rule: FieldRule) -> bool:
    """True when the rule's value cannot be blank: an untransformed, unmapped source (or
    coalesce) that includes one every push or profile carries."""
    sources = rule.coalesce or ([rule.source] if rule.source else [])
    return not rule.transform and rule.map is None and any(s in ALWAYS_GIVEN for s in sources)
