"""The ``lifecycle:`` section: a follower's stage, moved by rules, never backwards.

A stage is one of ``stages`` (earliest first). Each rule names a stage and when it is
reached: on events of some kinds, when the follower's person is a Lead or a Contact,
when a field of that person holds one of some values (or any value). After a batch, a
follower's stage is the latest stage any of its events reached, and never earlier than
the stage in Salesforce — unless a rule with ``backwards: true`` fired (then its stage
is set even if earlier). The shipped default follows Parllay's seven stages, from
Follower to Loyal. Evaluation is pure (:func:`next_stage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from mappings.rules import Strict
from mappings.vocabulary import ApiName, EventKind


class StageRule(Strict):
    """``stage`` is reached when every condition given holds: the event is one of
    ``events``; the person is a ``object``; its ``field`` is one of ``in`` (or, with
    ``not_blank: true``, holds any value)."""

    stage: str
    events: list[EventKind] = Field(default_factory=list)
    object: Literal["Contact", "Lead"] | None = None
    field: ApiName | None = None
    in_: list[str] = Field(default_factory=list, alias="in")
    not_blank: bool = False
    backwards: bool = False

    @model_validator(mode="after")
    def _conditions(self) -> StageRule:
        if not self.events and self.object is None:
            raise ValueError(f"the rule for stage {self.stage!r} has no condition — give "
                             "events: [kinds], object: Lead|Contact, or both")
        if self.field is not None and self.object is None:
            raise ValueError(f"field: {self.field} needs object: Lead or Contact (whose "
                             "field it is)")
        if self.field is not None and not self.in_ and not self.not_blank:
            raise ValueError(f"field: {self.field} needs in: [values] or not_blank: true")
        if self.field is None and (self.in_ or self.not_blank):
            raise ValueError("in: and not_blank: compare a field — add field: <API name>")
        if self.in_ and self.not_blank:
            raise ValueError("give in: or not_blank: true, not both")
        return self


class LifecycleSection(Strict):
    """``field`` (on the follower object) holds the stage; ``stages`` earliest first."""

    field: ApiName
    stages: list[str] = Field(min_length=2)
    rules: list[StageRule] = Field(min_length=1)
    _plan: Lifecycle | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _stages_known(self) -> LifecycleSection:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages lists a stage twice — list each once, earliest first")
        for rule in self.rules:
            if rule.stage not in self.stages:
                raise ValueError(f"rule stage {rule.stage!r} is not in stages {self.stages}")
        return self

    def plan(self) -> Lifecycle:
        """The section as plain data, for the write plan (built once: every event's plan
        carries it)."""
        if self._plan is None:
            self._plan = Lifecycle(self.field, tuple(self.stages), tuple(
                RuleSpec(r.stage, tuple(r.events), r.object, r.field, tuple(r.in_),
                         r.not_blank, r.backwards) for r in self.rules))
        return self._plan


@dataclass(frozen=True)
class RuleSpec:
    """A :class:`StageRule` as plain data (``values``: its ``in:``)."""

    stage: str
    events: tuple[str, ...] = ()
    object: str | None = None
    field: str | None = None
    values: tuple[str, ...] = ()
    not_blank: bool = False
    backwards: bool = False


@dataclass(frozen=True)
class Lifecycle:
    """What a plan carries of the section: the follower field, the stages, the rules."""

    field: str
    stages: tuple[str, ...]
    rules: tuple[RuleSpec, ...]

    def person_fields(self) -> dict[str, set[str]]:
        """Per person object, the fields the rules compare (read with the person)."""
        out: dict[str, set[str]] = {}
        for rule in self.rules:
            if rule.object and rule.field:
                out.setdefault(rule.object, set()).add(rule.field)
        return out

    def fired(self, kind: str, person_object: str | None,
              person: Mapping[str, Any] | None) -> list[RuleSpec]:
        """The rules an event of ``kind`` fires, given the follower's person (its object
        and the values known of it; None when the follower has none)."""
        out = []
        for rule in self.rules:
            if rule.events and kind not in rule.events:
                continue
            if rule.object is not None and rule.object != person_object:
                continue
            if rule.field is not None:
                value = _value(person or {}, rule.field)
                if rule.not_blank and value in (None, ""):
                    continue
                if rule.values and str(value) not in rule.values:
                    continue
            out.append(rule)
        return out


def _value(row: Mapping[str, Any], name: str) -> Any:
    # Salesforce field names are case-insensitive; rows come back in the org's case.
    if name in row:
        return row[name]
    folded = name.casefold()
    return next((v for k, v in row.items() if k.casefold() == folded), None)


def next_stage(stages: list[str] | tuple[str, ...], current: str | None,
               hits: Iterable[RuleSpec]) -> str | None:
    """The stage after ``hits`` (in event order) from ``current``: forward only, but a
    ``backwards`` hit sets its stage whatever it is. A current value not in ``stages``
    (blank, or set by hand to something else) counts as before the first."""
    order = {name: i for i, name in enumerate(stages)}
    stage = current
    for hit in hits:
        if hit.backwards or order[hit.stage] > order.get(stage, -1):
            stage = hit.stage
    return stage
