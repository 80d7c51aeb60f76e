"""Field rules: where one Salesforce field's value comes from, and the base of every
model of the grammar. ``mappings.models`` re-exports them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mappings.transforms import parse_chain
from mappings.vocabulary import check_source


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Conflict policies (HubSpot's sync rules): when an update of a matched person may
# overwrite the value in Salesforce — only if it is blank there, never (written on create
# only), only if the event is newer than the record's LastModifiedDate; ``dont_sync``: the
# bridge never writes the field. Without one, an ``on: always`` value overwrites on every
# event. ``connector/inbound/conflicts.py`` decides.
Conflict = Literal["prefer_salesforce_unless_blank", "always_salesforce", "newest",
                   "dont_sync"]

# What the way back (Salesforce → WeChat) can write on a follower.
WECHAT_WRITABLE = ("follower.remark", "follower.tag_names")
ORIGINS = ("source", "value", "template", "coalesce")  # exactly one per field rule
TEMPLATE_SLOT = re.compile(r"\{([^{}]*)\}")


class FieldRule(Strict):
    """Where one Salesforce field's value comes from.

    Exactly one of ``source`` (a path such as ``follower.openid``), ``value`` (a
    constant) or ``template`` (text with ``{follower.remark}``-style slots). Then
    ``transform`` (a chain), then ``map`` (value → value). ``default`` is used when the
    result is blank (or not in ``map``). ``on: create`` writes the field only when the
    record is created; ``always`` also on later events. ``sync`` is the direction:
    ``to_salesforce`` (WeChat → Salesforce), ``to_wechat`` (Salesforce → WeChat only:
    the way back sets the follower's remark or tags from the field) or ``both``.
    ``conflict`` (person fields with ``on: always``): when an update may overwrite the
    value already in Salesforce — see :data:`Conflict`; ``dont_sync`` (anywhere): the
    bridge never writes the field, in either direction.
    """

    source: str | None = None
    value: Any = None
    template: str | None = None
    coalesce: list[str] | None = Field(default=None, min_length=2)
    default: Any = None
    transform: str | None = None
    map: dict[str, Any] | None = None
    on: Literal["create", "always"] = "create"
    sync: Literal["to_salesforce", "to_wechat", "both"] = "to_salesforce"
    conflict: Conflict | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys_as_text(cls, value: Any) -> Any:
        # The engine looks values up as text, so YAML's 1 or true must be "1" or "True".
        if isinstance(value, dict):
            return {str(key): item for key, item in value.items()}
        return value

    @field_validator("coalesce")
    @classmethod
    def _coalesce(cls, value: list[str] | None) -> list[str] | None:
        for source in value or ():
            check_source(source)
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            slots = TEMPLATE_SLOT.findall(value)
            if not slots:
                raise ValueError("a template needs at least one {source} slot")
            for slot in slots:
                check_source(slot.strip())
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else check_source(value)

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        if value is not None:
            parse_chain(value)
        return value

    @model_validator(mode="after")
    def _direction(self) -> FieldRule:
        # WeChat can take only a follower's remark and tags back from Salesforce.
        if self.sync != "to_salesforce" and self.source not in WECHAT_WRITABLE:
            what = ("a constant" if self.value is not None else "a template"
                    if self.template is not None else "a coalesce" if self.coalesce
                    else f"'{self.source}'")
            raise ValueError(
                f"sync: {self.sync} sends this field to WeChat, but WeChat can only take a "
                f"remark or tags, and {what} is neither — use source: follower.remark or "
                "source: follower.tag_names, or sync: to_salesforce")
        return self

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        given = [k for k in ORIGINS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'source', 'value', 'template' or 'coalesce'")
        return self


@dataclass(frozen=True)
class FieldUse:
    """One place where the mapping names a Salesforce field.

    ``path`` is the key path in the file (for line numbers); ``use`` says what the bridge
    does with the field: ``write`` (a rule gives it a value), ``key`` (upsert by it),
    ``link`` (a lookup to the person), ``match`` (queried to find a person), ``read``
    (only selected: its value is used, e.g. a Campaign's auto-reply).
    """

    path: tuple[str | int, ...]
    object: str
    field: str
    use: Literal["write", "key", "link", "match", "read"]
    rule: FieldRule | None = None


def check_link(value: str | None) -> str | None:
    """A field validator for links a follower opens: written in full, http(s)."""
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"{value!r} is not a link — write it in full, starting with "
                         "https://")
    return value
