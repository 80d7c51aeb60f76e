"""The writes of a batch as data: one :class:`Write` per collection call, and the
:class:`Ref` that stands for a record the batch creates before its Id is known.

A record created earlier in the same batch (a new Lead) has no Id yet when later steps
(the follower's lookup, the campaign member) need it; they hold a :class:`Ref` to it,
replaced by the Id once the step that creates it has run (:mod:`.apply`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Ref:
    """The record of ``object`` whose ``key_field`` is ``key``, created by an earlier step."""

    object: str
    key_field: str
    key: str

    def __str__(self) -> str:
        return f"@{{{self.object}.{self.key_field}={self.key}}}"


@dataclass(frozen=True)
class Write:
    """One collection call: ``records[i]`` serves the events ``events[i]``.

    ``duplicate_ok``: Salesforce's DUPLICATE_VALUE means the record is already there
    (a campaign member), which is what the events wanted. ``links_optional``: a field
    whose Ref could not be created is left out and the record still written (a follower
    is worth recording without its person); otherwise the record is skipped.
    ``assign``: the org's active assignment rule runs on these records (persons created
    by a key no lookup found; every other write, updates first, says it must not).
    """

    action: Literal["upsert", "update", "create"]
    object: str
    key_field: str | None
    records: tuple[dict[str, Any], ...]
    events: tuple[tuple[str, ...], ...]
    duplicate_ok: bool = False
    links_optional: bool = False
    assign: bool = False

    def to_json(self) -> dict[str, Any]:
        def show(value: Any) -> Any:
            return str(value) if isinstance(value, Ref) else value

        return {"action": self.action, "object": self.object, "key_field": self.key_field,
                "assign": self.assign,
                "records": [{k: show(v) for k, v in r.items()} for r in self.records]}
