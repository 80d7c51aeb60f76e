"""The org's own automation on API writes: a Lead assignment rule and a duplicate rule.

Both are records of the setup objects the API can query (``AssignmentRule``,
``DuplicateRule``, read only; see ``schema.py``), so ``SELECT Name FROM AssignmentRule
WHERE SobjectType = 'Lead' AND Active = true`` sees what the rules do. Their behaviour:

- **Assignment rule** (REST API Developer Guide, "Assignment Rule Header",
  https://developer.salesforce.com/docs/platform/api-rest/guide/headers-autoassign.html):
  every API create or update of a Lead runs the active Lead assignment rule unless the
  request says ``Sforce-Auto-Assign: FALSE``; "If the header is not provided in the
  request, the default value is TRUE"; TRUE and FALSE are not case-sensitive; a valid
  AssignmentRule Id applies that rule "for created" records. The sandbox's rule has one
  entry without criteria: the Lead goes to the queue :attr:`OrgRules.queue_id`.
  Active by default, as in most orgs that route Leads.
- **Duplicate rule** (Object Reference "DuplicateRule", "DuplicateError",
  "DuplicateResult"; REST API Developer Guide "Duplicate Rule Header",
  https://developer.salesforce.com/docs/platform/api-rest/guide/headers-duplicaterules.html):
  off by default, as an admin switches it on. Active, a Lead created or edited through the
  API whose Email (case-insensitive) is another live Lead's is refused with
  DUPLICATES_DETECTED and a ``duplicateResult`` naming the rule and the matching
  records. Its action is ``Allow`` (with an alert, the standard rules' setting: the
  save goes through only with ``Sforce-Duplicate-Rule-Header: allowSave=true``, a header
  of API 52.0 and later, ignored before) or ``Block`` (never saved). The real standard
  Lead matching rule is fuzzy on name, company and email; the sandbox matches the email
  exactly (ExactMatchEngine).

Seeding and an admin's edits (no API request) run neither rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.ids import IdFactory, normalize
from sandbox.salesforce.schema import SObject
from sandbox.salesforce.store import Store

ASSIGNMENT_RULE = "Lead Routing"
DUPLICATE_RULE = "Standard_Lead_Duplicate_Rule"
DUPLICATE_LABEL = "Standard Lead Duplicate Rule"
MATCHING_RULE = "Standard_Lead_Match_Rule_v1_0"
# The standard rules' alert text (reference V3d: "Use one of these records?").
DUPLICATE_MESSAGE = "Use one of these records?"
MIN_DUPLICATE_HEADER_VERSION = 52.0
_ALLOW_SAVE = re.compile(r"(?:^|;)\s*allowSave\s*=\s*true\s*(?:;|$)", re.IGNORECASE)
Action = Literal["Allow", "Block"]


@dataclass(frozen=True)
class RequestOptions:
    """What an API request says about the org's rules: its headers and version."""

    version: str
    auto_assign: str | None = None  # Sforce-Auto-Assign, as sent
    duplicate_header: str | None = None  # Sforce-Duplicate-Rule-Header, as sent

    @classmethod
    def of(cls, version: str, headers: Mapping[str, str]) -> RequestOptions:
        """From lower-case header names."""
        return cls(version, headers.get("sforce-auto-assign"),
                   headers.get("sforce-duplicate-rule-header"))

    @property
    def allow_save(self) -> bool:
        return (float(self.version) >= MIN_DUPLICATE_HEADER_VERSION
                and bool(_ALLOW_SAVE.search(self.duplicate_header or "")))


# The API request in progress (None: a seed or an admin's edit, which run no rules).
_request: ContextVar[RequestOptions | None] = ContextVar("sandbox_salesforce_request",
                                                         default=None)


@contextmanager
def api_request(options: RequestOptions) -> Iterator[None]:
    """Writes in this block are the API request ``options`` describes."""
    token = _request.set(options)
    try:
        yield
    finally:
        _request.reset(token)


class OrgRules:
    """The Lead assignment rule and duplicate rule of one sandbox org."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue_id = IdFactory().new("00G")  # the "Web and WeChat Leads" queue
        store.principals[self.queue_id] = "Group"
        self.duplicate_action: Action = "Allow"
        # made in Setup before the bridge came: not writes of anyone the tests count
        self.assignment_rule_id = store.add_setup("AssignmentRule", {
            "Name": ASSIGNMENT_RULE, "SobjectType": "Lead", "Active": True})
        self.duplicate_rule_id = store.add_setup("DuplicateRule", {
            "DeveloperName": DUPLICATE_RULE, "MasterLabel": DUPLICATE_LABEL,
            "SobjectType": "Lead", "IsActive": False})
        store.before_save = self.before_save

    def set_assignment(self, active: bool) -> None:
        """Activate or deactivate the Lead assignment rule, as an admin in Setup."""
        self.store.update("AssignmentRule", self.assignment_rule_id, {"Active": active},
                          trusted=True)

    def set_duplicates(self, active: bool, action: Action | None = None) -> None:
        """Activate or deactivate the Lead duplicate rule; ``action``: Allow (an alert
        the API can save past) or Block.

        Raises:
            ValueError: an unknown action.
        """
        if action is not None:
            if action not in ("Allow", "Block"):
                raise ValueError("action must be Allow or Block")
            self.duplicate_action = action
        self.store.update("DuplicateRule", self.duplicate_rule_id, {"IsActive": active},
                          trusted=True)

    def state(self) -> dict:
        return {"assignment_rule": {"id": self.assignment_rule_id,
                                    "active": self._row("AssignmentRule")["Active"],
                                    "queue_id": self.queue_id},
                "duplicate_rule": {"id": self.duplicate_rule_id,
                                   "active": self._row("DuplicateRule")["IsActive"],
                                   "action": self.duplicate_action}}

    def _row(self, sobject: str) -> dict:
        wanted = self.assignment_rule_id if sobject == "AssignmentRule" \
            else self.duplicate_rule_id
        return next(r for r in self.store.rows(sobject) if r["Id"] == wanted)

    # -- the store's hook ----------------------------------------------------------------

    def before_save(self, obj: SObject, record: dict, before: dict | None) -> None:
        """Run the rules on a Lead an API request saves (the store holds its lock).

        Raises:
            SalesforceError: DUPLICATES_DETECTED, a record error with its duplicateResult.
        """
        options = _request.get()
        if options is None or obj.name != "Lead":
            return
        self._check_duplicates(record, options)
        if self._assigns(options, creating=before is None):
            record["OwnerId"] = self.queue_id

    def _assigns(self, options: RequestOptions, *, creating: bool) -> bool:
        value = (options.auto_assign or "TRUE").strip()
        if value.upper() == "FALSE":
            return False
        if value.upper() != "TRUE" and normalize(value) == self.assignment_rule_id:
            return creating  # a named rule applies to created records
        return bool(self._row("AssignmentRule")["Active"])

    def _check_duplicates(self, record: dict, options: RequestOptions) -> None:
        if not self._row("DuplicateRule")["IsActive"] or not record.get("Email"):
            return
        email = str(record["Email"]).casefold()
        matches = [r["Id"] for r in self.store.rows("Lead")
                   if r["Id"] != record.get("Id") and r.get("Email")
                   and str(r["Email"]).casefold() == email]
        if not matches:
            return
        allow = self.duplicate_action == "Allow"
        if allow and options.allow_save:
            return
        raise SalesforceError("DUPLICATES_DETECTED", DUPLICATE_MESSAGE, fields=[],
                              duplicate_result=_duplicate_result(matches, allow,
                                                                 options.version))


def _duplicate_result(ids: list[str], allow_save: bool, version: str) -> dict:
    """DuplicateResult: the rule, and per matching rule the records it matched (shape of
    the answer quoted in aiosalesforce's tests/test_exceptions.py)."""
    records = [{"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                "record": {"attributes": {
                    "type": "Lead", "url": f"/services/data/v{version}/sobjects/Lead/{i}"},
                    "Id": i}} for i in ids]
    return {"allowSave": allow_save, "duplicateRule": DUPLICATE_RULE,
            "duplicateRuleEntityType": "Lead", "errorMessage": DUPLICATE_MESSAGE,
            "matchResults": [{"entityType": "Lead", "errors": [],
                              "matchEngine": "ExactMatchEngine", "matchRecords": records,
                              "rule": MATCHING_RULE, "size": len(records),
                              "success": True}]}
