"""In-memory records with Salesforce's write rules, safe to share between threads.

Records are replaced, never mutated, on write (copy on write), so a list of rows handed
to a query stays consistent while other requests write. :meth:`Store.atomic` groups writes
so an ``allOrNone`` call can roll them all back.

Every write is made by the current :class:`~sandbox.salesforce.authors.Actor` (see
``authors.py``): its user becomes the record's ``CreatedById``/``LastModifiedById``, and
``Store.authors`` remembers it and tells its observers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sandbox.salesforce import values
from sandbox.salesforce.authors import Authors
from sandbox.salesforce.errors import SalesforceError, not_found, record_error
from sandbox.salesforce.ids import IdFactory, normalize
from sandbox.salesforce.schema import Field, Schema, SObject

_FLS_MESSAGE = ("Unable to create/update fields: {}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.")


class MultipleMatches(Exception):  # noqa: N818 - named after the situation, like Salesforce
    """An upsert key matched more than one record; ``ids`` are the matches."""

    def __init__(self, sobject: str, field: str, ids: list[str]) -> None:
        super().__init__(f"{sobject}.{field} matches {len(ids)} records")
        self.sobject, self.field, self.ids = sobject, field, ids


# A check run on each record before it is saved: (object, record to save, record before
# or None on create); it may change the record (an owner) or raise (a duplicate).
BeforeSave = Callable[[SObject, dict, dict | None], None]
_READ_ONLY = ("entity type cannot be {}: {}")  # CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY's text


class Store:
    """All records of one sandbox, keyed by object then 18-character id.

    ``before_save``: the org's automation (assignment and duplicate rules, ``org_rules``),
    run on every write but a trusted one (seeding).
    """

    def __init__(self, schema: Schema, *, user_id: str, id_seed: int | None = None) -> None:
        self.schema = schema
        self.user_id = user_id
        self.lock = threading.RLock()
        self._ids = IdFactory(id_seed)
        self._tables: dict[str, dict[str, dict]] = {n: {} for n in schema.names()}
        self._autonumbers: dict[str, Iterator[int]] = {}
        self._undo: list[tuple[str, str, dict | None]] | None = None
        # Lookups by field value ((object, field) -> key -> ids), built on first use and
        # kept by _put, so an upsert or a unique check is not a scan of the table: a
        # backfill of 100,000 followers would otherwise cost the emulator O(n²).
        self._indexes: dict[tuple[str, str], dict[object, dict[str, None]]] = {}
        self.authors = Authors(user_id, self.lock)
        self.before_save: BeforeSave | None = None
        # Ids of records the sandbox has no object for (its users, queues): id -> object,
        # so an OwnerId may point at them.
        self.principals: dict[str, str] = {}

    # -- reading -------------------------------------------------------------------------

    def sobject(self, name: str) -> SObject:
        """Raises: SalesforceError NOT_FOUND (404) for an object the sandbox lacks."""
        obj = self.schema.get(name)
        if obj is None:
            raise not_found()
        return obj

    def lookup(self, record_id: str) -> tuple[SObject, dict] | None:
        """The object and record (deleted or not) for any well-formed id, or None."""
        normal = normalize(record_id)
        obj = self.schema.by_prefix(normal[:3]) if normal else None
        if obj is None:
            return None
        with self.lock:
            record = self._tables[obj.name].get(normal)
        return (obj, record) if record is not None else None

    def rows(self, sobject: str, *, include_deleted: bool = False) -> list[dict]:
        """A snapshot of the records of ``sobject`` (records are never mutated in place)."""
        with self.lock:
            table = self._tables[self.sobject(sobject).name]
            return [r for r in table.values() if include_deleted or not r["IsDeleted"]]

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[_Transaction]:
        """Hold the store and journal writes; ``tx.rollback()`` undoes them all."""
        with self.lock:
            outer, self._undo = self._undo, []
            tx = _Transaction(self, self._undo)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                if outer is not None:
                    outer.extend(self._undo)
                self._undo = outer

    def _put(self, sobject: str, record_id: str, record: dict | None) -> None:
        table = self._tables[sobject]
        if self._undo is not None:
            self._undo.append((sobject, record_id, table.get(record_id)))
        self._reindex(sobject, record_id, table.get(record_id), record)
        if record is None:
            table.pop(record_id, None)
        else:
            table[record_id] = record

    def _reindex(self, sobject: str, record_id: str, before: dict | None,
                 after: dict | None) -> None:
        """Keep the built indexes of ``sobject`` true as one record changes."""
        for (name, field_name), index in self._indexes.items():
            if name != sobject:
                continue
            field = self.schema.get(sobject).field(field_name)
            old = _index_key(field, before.get(field_name)) if before else None
            new = _index_key(field, after.get(field_name)) if after else None
            if old == new:
                continue
            if old is not None:
                index.get(old, {}).pop(record_id, None)
            if new is not None:
                index.setdefault(new, {})[record_id] = None

    def _candidates(self, obj: SObject, field: Field, value: object) -> list[str]:
        """Ids of the records whose ``field`` may equal ``value``, in table order."""
        index = self._indexes.get((obj.name, field.name))
        if index is None:
            index = {}
            for record_id, record in self._tables[obj.name].items():
                key = _index_key(field, record.get(field.name))
                if key is not None:
                    index.setdefault(key, {})[record_id] = None
            self._indexes[(obj.name, field.name)] = index
        found = index.get(_index_key(field, value), {})
        if len(found) < 2:
            return list(found)
        return [i for i in self._tables[obj.name] if i in found]

    # -- writing ---------------------------------------------------------------------------

    def create(self, sobject: str, fields: dict, *, trusted: bool = False) -> str:
        """Insert one record and return its id.

        ``trusted`` (seeding) skips the createable check, as an admin's data load would.

        Raises:
            SalesforceError: NOT_FOUND (404) for an unknown object; request-level errors
                (``fields`` None): INVALID_FIELD, JSON_PARSER_ERROR; record errors:
                INVALID_FIELD_FOR_INSERT_UPDATE, REQUIRED_FIELD_MISSING, STRING_TOO_LONG,
                INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, FIELD_INTEGRITY_EXCEPTION,
                INVALID_CROSS_REFERENCE_KEY, DUPLICATE_VALUE.
        """
        obj = self.sobject(sobject)
        if obj.read_only and not trusted:
            _refuse_setup_object(obj, "inserted")
        if any(k.lower() == "id" for k in fields):
            raise record_error("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        changes = self._validate(obj, fields, creating=True, trusted=trusted)
        with self.lock:
            record = {f.name: f.default if f.defaulted else None for f in obj.fields}
            record.update(changes)
            self._check_required(obj, record, creating=True)
            self._check_unique(obj, record)
            self._check_member_status(obj, record, given="Status" in changes)
            record_id = self._ids.new(obj.key_prefix)
            stamp = values.now()
            actor = self.authors.current()
            if obj.field("OwnerId") is not None and record.get("OwnerId") is None:
                record["OwnerId"] = actor.user_id  # the creator owns a record by default
            if self.before_save is not None and not trusted:
                self.before_save(obj, record, None)
            record.update(Id=record_id, IsDeleted=False, CreatedDate=stamp,
                          CreatedById=actor.user_id, LastModifiedDate=stamp,
                          LastModifiedById=actor.user_id, SystemModstamp=stamp)
            for f in obj.fields:
                if f.auto_number:  # one counter per object, as in an org
                    counter = self._autonumbers.setdefault(obj.name, itertools.count(1))
                    record[f.name] = f.auto_value(next(counter))
            created = _derive(obj, record)
            self._put(obj.name, record_id, created)
            self.authors.wrote(obj.name, None, created, actor)
        return record_id

    def add_setup(self, sobject: str, fields: dict, record_id: str | None = None) -> str:
        """Put a record the org had before any call (a user, a rule made in Setup): no
        checks, no author, no automation, not counted as a write; returns its id."""
        obj = self.sobject(sobject)
        with self.lock:
            record_id = record_id or self._ids.new(obj.key_prefix)
            record = {f.name: f.default if f.defaulted else None for f in obj.fields}
            stamp = values.now()
            creator = fields.get("CreatedById", record_id if sobject == "User" else None)
            record.update(fields, Id=record_id, IsDeleted=False, CreatedDate=stamp,
                          CreatedById=creator, LastModifiedDate=stamp,
                          LastModifiedById=creator, SystemModstamp=stamp)
            self._put(obj.name, record_id, _derive(obj, record))
        return record_id

    def add_user(self, user_id: str, fields: dict) -> None:
        """Put a User with the given id (users are set up, not written through the API)."""
        self.add_setup("User", fields, user_id)

    def update(self, sobject: str, record_id: str, fields: dict, *,
               trusted: bool = False) -> None:
        """Change fields of one live record (``trusted``: as Setup would, read-only
        fields and setup objects included, no automation).

        Raises:
            SalesforceError: as :meth:`create`, plus MALFORMED_ID, ENTITY_IS_DELETED and
                INVALID_CROSS_REFERENCE_KEY (record errors) for a bad, deleted or unknown id.
        """
        obj = self.sobject(sobject)
        if obj.read_only and not trusted:
            _refuse_setup_object(obj, "updated")
        fields = {k: v for k, v in fields.items() if k.lower() != "id"}
        changes = self._validate(obj, fields, creating=False, trusted=trusted)
        with self.lock:
            current = self._live(obj, record_id)
            record = {**current, **changes}
            self._check_required(obj, record, creating=False)
            self._check_unique(obj, record)
            self._check_member_status(obj, record, given=True)
            if self.before_save is not None and not trusted:
                self.before_save(obj, record, current)
            stamp = values.now()
            actor = self.authors.current()
            record.update(LastModifiedDate=stamp, LastModifiedById=actor.user_id,
                          SystemModstamp=stamp)
            updated = _derive(obj, record)
            self._put(obj.name, current["Id"], updated)
            self.authors.wrote(obj.name, current, updated, actor)

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete (to the recycle bin, so ``queryAll`` still sees it).

        Raises:
            SalesforceError: as :meth:`update` for a bad, deleted or unknown id.
        """
        obj = self.sobject(sobject)
        if obj.read_only:
            _refuse_setup_object(obj, "deleted")
        with self.lock:
            current = self._live(obj, record_id)
            stamp = values.now()
            deleted = {**current, "IsDeleted": True, "SystemModstamp": stamp}
            self._put(obj.name, current["Id"], deleted)
            self.authors.wrote(obj.name, current, deleted, self.authors.current())

    def upsert(self, sobject: str, ext_field: str, ext_value: object,
               fields: dict, *, race: bool = False) -> tuple[str, bool]:
        """Update the one record whose ``ext_field`` equals ``ext_value``, or create one.

        Returns (id, created). ``race``: another transaction upserting the same new key
        decided "create" at the same moment and commits first (a fault, see
        ``sandbox.faults``); this one then creates too, and on a unique key its insert is
        refused with DUPLICATE_VALUE, as Salesforce's unique index refuses it.

        Raises:
            SalesforceError: NOT_FOUND (404) when ``ext_field`` is not an external id;
                otherwise as :meth:`create` / :meth:`update`.
            MultipleMatches: more than one record has that value.
        """
        obj, key = self._external_key(sobject, ext_field)
        body = {k: v for k, v in fields.items() if k.lower() != key.name.lower()}
        sent = next((v for k, v in fields.items() if k.lower() == key.name.lower()), ext_value)
        if str(sent) != str(ext_value):
            raise record_error("INVALID_FIELD", f"{key.name} in the body differs from the "
                               "external id in the request", [key.name])
        with self.lock:
            if key.name == "Id" and ext_value is None:
                # A collection upsert keyed on Id creates the records that carry no Id.
                return self.create(obj.name, body), True
            matches = self._matches(obj, key, ext_value)
            if len(matches) > 1:
                raise MultipleMatches(obj.name, key.name, matches)
            if matches:
                self.update(obj.name, matches[0], body)
                return matches[0], False
            if key.name == "Id":
                raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                                   ["Id"])
            if race:
                # Both decided "create"; the other commits first. "The Unique attribute
                # prevents the creation of duplicates" (https://developer.salesforce.com/
                # docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_upsert_patch.htm):
                # on a unique key this create is refused, DUPLICATE_VALUE "duplicate value
                # found: <field> duplicates value on record with id: <id>" (_check_unique);
                # on a non-unique one nothing stops it and the key now has two records.
                self._commit_elsewhere(obj.name, {**body, key.name: ext_value})
            return self.create(obj.name, {**body, key.name: ext_value}), True

    def _commit_elsewhere(self, sobject: str, fields: dict) -> None:
        """Create a record as a concurrent transaction would: committed at once, so a
        rollback of the current one leaves it in place."""
        journal, self._undo = self._undo, None
        try:
            self.create(sobject, fields)
        finally:
            self._undo = journal

    def find(self, sobject: str, ext_field: str, ext_value: object) -> str | None:
        """The id of the live record whose external id ``ext_field`` is ``ext_value``.

        Raises:
            SalesforceError: NOT_FOUND (404) when ``ext_field`` is not an external id.
            MultipleMatches: more than one record has that value.
        """
        obj, key = self._external_key(sobject, ext_field)
        with self.lock:
            matches = self._matches(obj, key, ext_value)
        if len(matches) > 1:
            raise MultipleMatches(obj.name, key.name, matches)
        return matches[0] if matches else None

    def _external_key(self, sobject: str, ext_field: str) -> tuple[SObject, Field]:
        obj = self.sobject(sobject)
        key = obj.field(ext_field)
        if key is None or not (key.external_id or key.id_lookup):
            raise SalesforceError("NOT_FOUND", "Provided external ID field does not exist or "
                                  f"is not accessible: {ext_field}", status=404)
        return obj, key

    # -- rules -----------------------------------------------------------------------------

    def _validate(self, obj: SObject, fields: dict, *, creating: bool,
                  trusted: bool = False) -> dict:
        """Map ``fields`` to canonical names and stored values; check writability and refs."""
        changes, locked = {}, []
        for name, raw in fields.items():
            if name == "attributes":
                continue
            field = obj.field(name)
            if field is None:
                raise SalesforceError("INVALID_FIELD",
                                      f"No such column '{name}' on sobject of type {obj.name}")
            if not trusted and not (field.createable if creating else field.updateable):
                locked.append(field.name)
                continue
            changes[field.name] = values.coerce(field, raw)
        if locked:
            raise record_error("INVALID_FIELD_FOR_INSERT_UPDATE",
                               _FLS_MESSAGE.format(", ".join(locked)), locked)
        for name, value in changes.items():
            field = obj.field(name)
            if field.type == "reference" and value is not None:
                self._check_reference(field, value)
        return changes

    def _check_reference(self, field: Field, value: str) -> None:
        if self.principals.get(value) in field.reference_to:
            return
        target = self.schema.by_prefix(value[:3])
        if target is None or target.name not in field.reference_to:
            raise record_error("FIELD_INTEGRITY_EXCEPTION",
                               f"{field.label}: id value of incorrect type: {value}",
                               [field.name])
        with self.lock:
            record = self._tables[target.name].get(value)
        if record is None or record["IsDeleted"]:
            raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                               [field.name])

    def _check_required(self, obj: SObject, record: dict, *, creating: bool) -> None:
        missing = [f.name for f in obj.fields
                   if (f.required_on_create if creating else f.updateable and not f.nillable
                       and f.type != "boolean") and record.get(f.name) is None]
        if obj.one_of_required and all(record.get(n) is None for n in obj.one_of_required):
            missing.extend(obj.one_of_required)
        if missing:
            raise record_error("REQUIRED_FIELD_MISSING",
                               f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _check_unique(self, obj: SObject, record: dict) -> None:
        for field in obj.fields:
            if field.unique and record.get(field.name) is not None:
                other = [i for i in self._matches(obj, field, record[field.name])
                         if i != record.get("Id")]
                if other:
                    raise record_error("DUPLICATE_VALUE", f"duplicate value found: {field.name} "
                                       f"duplicates value on record with id: {other[0]}")
        if obj.name == "CampaignMember":
            person = ("LeadId", "ContactId")
            table = self._tables[obj.name]
            ids = [i for p in person if record.get(p) is not None
                   for i in self._candidates(obj, obj.field(p), record[p])]
            for other in (table[i] for i in dict.fromkeys(ids) if i in table):
                if (other["Id"] != record.get("Id") and not other["IsDeleted"]
                        and other["CampaignId"] == record["CampaignId"]
                        and any(record[p] is not None and other[p] == record[p]
                                for p in person)):
                    raise record_error("DUPLICATE_VALUE", "Already a campaign member.")
        if obj.name == "CampaignMemberStatus":
            for other in self._campaign_statuses(record["CampaignId"]):
                if other["Id"] != record.get("Id") and other["Label"] == record["Label"]:
                    raise record_error("DUPLICATE_VALUE", "duplicate value found: Label "
                                       f"duplicates value on record with id: {other['Id']}",
                                       ["Label"])
                # "Unique number order where this campaign member status appears in the
                # picklist" (Object Reference, CampaignMemberStatus.SortOrder:
                # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
                # object_reference/sforce_api_objects_campaignmemberstatus.htm); refused
                # in the words of any unique field (https://docs.gearset.com/en/articles/
                # 4002241-resolving-data-deployment-errors-duplicate_value-duplicate-value-found).
                if (other["Id"] != record.get("Id") and record.get("SortOrder") is not None
                        and other["SortOrder"] == record["SortOrder"]):
                    raise record_error("DUPLICATE_VALUE", "duplicate value found: SortOrder "
                                       f"duplicates value on record with id: {other['Id']}",
                                       ["SortOrder"])

    def _campaign_statuses(self, campaign_id: str) -> list[dict]:
        return [r for r in self._tables["CampaignMemberStatus"].values()
                if not r["IsDeleted"] and r["CampaignId"] == campaign_id]

    def _check_member_status(self, obj: SObject, record: dict, *, given: bool) -> None:
        """A member's Status must be one of its campaign's statuses, when the campaign has
        any (campaigns seeded without statuses take the picklist's values, as before); a
        member created without a Status gets the campaign's default one."""
        if obj.name != "CampaignMember":
            return
        statuses = self._campaign_statuses(record["CampaignId"])
        if not statuses:
            return
        default = next((s["Label"] for s in statuses if s["IsDefault"]), None)
        if not given and default is not None:
            record["Status"] = default
        if record["Status"] not in {s["Label"] for s in statuses}:
            raise record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value "
                               f"for restricted picklist field: {record['Status']}", ["Status"])

    def _matches(self, obj: SObject, field: Field, value: object) -> list[str]:
        if field.type in ("id", "reference"):
            wanted = normalize(value)
            same = lambda v: v == wanted  # noqa: E731 - ids compare exactly
        elif field.case_sensitive:
            same = lambda v: v == str(value)  # noqa: E731
        else:
            same = lambda v: v is not None and str(v).casefold() == str(value).casefold()  # noqa: E731
        table = self._tables[obj.name]
        return [i for i in self._candidates(obj, field, value)
                if not table[i]["IsDeleted"] and same(table[i].get(field.name))]

    def _live(self, obj: SObject, record_id: str) -> dict:
        normal = normalize(record_id)
        if normal is None:
            raise record_error("MALFORMED_ID", f"malformed id {record_id}")
        record = self._tables[obj.name].get(normal)
        if record is None:
            raise record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record["IsDeleted"]:
            raise record_error("ENTITY_IS_DELETED", "entity is deleted")
        return record


def _index_key(field: Field, value: object) -> object:
    """What :meth:`Store._matches` compares ``value`` by: ids exactly (normalised),
    case-sensitive text as it is, other text ignoring case; None for no value."""
    if value is None:
        return None
    if field.type in ("id", "reference"):
        return normalize(value)
    return str(value) if field.case_sensitive else str(value).casefold()


class _Transaction:
    def __init__(self, store: Store, journal: list) -> None:
        self._store, self._journal = store, journal

    def rollback(self) -> None:
        """Undo every write made inside the transaction, newest first."""
        while self._journal:
            sobject, record_id, before = self._journal.pop()
            table = self._store._tables[sobject]
            self._store._reindex(sobject, record_id, table.get(record_id), before)
            if before is None:
                table.pop(record_id, None)
            else:
                table[record_id] = before


def _refuse_setup_object(obj: SObject, verb: str) -> None:
    """Setup objects are read only through the API: Salesforce answers
    CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY "entity type cannot be inserted: <label>" (as
    quoted from orgs, e.g. for Flow and Contact; the Object Reference lists only query
    and retrieve for AssignmentRule and DuplicateRule)."""
    raise record_error("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                       _READ_ONLY.format(verb, obj.label))


def _derive(obj: SObject, record: dict) -> dict:
    """Fill fields Salesforce computes from others."""
    if obj.field("FirstName") is not None and obj.field("Name") is not None:
        parts = (record.get("FirstName"), record.get("LastName"))
        record["Name"] = " ".join(p for p in parts if p) or None
    if obj.name == "CampaignMember":
        record["HasResponded"] = record.get("Status") not in (None, "Sent")
    return record
