"""The ``way_back:`` section of the mapping file.

The way back (Salesforce → WeChat): which objects are watched for changes, and how
changed fields become a follower's remark and tags.

The fields that flow back are the field rules with ``sync: to_wechat`` or ``both`` (only
``source: follower.remark`` or ``source: follower.tag_names`` may, see
:mod:`mappings.rules`), under ``follower.fields`` and ``objects.Lead``/``objects.Contact``.
:func:`mappings.back_rules.back_rules` lists them per object; the section itself says
which of those objects are watched, how a person record finds its followers, and how tags
are read and managed. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from mappings.rules import FieldUse, Strict
from mappings.transforms import parse_chain
from mappings.vocabulary import ApiName

REMARK, TAGS = "follower.remark", "follower.tag_names"
DEFAULT_SEPARATOR = ";"


class TagSettings(Strict):
    """``way_back.tags``: ``separator`` splits a field's text into tag names (default:
    the argument of the rule's ``join(...)`` transform, else ``;``); ``prefix``: only tags
    whose names start with it are the bridge's to add and remove (default ``""``: every
    tag but WeChat's reserved ones)."""

    separator: str | None = Field(default=None, min_length=1)
    prefix: str = ""


class WayBackSection(Strict):
    """``way_back:``.

    ``enabled``: false stops the way back (no object is watched for remarks and tags).
    ``objects``: the watched objects, among those with ``sync: to_wechat|both`` rules
    (default: all of them). ``followers``: how a Lead or Contact finds its followers —
    ``openid_field`` (the field of its match rule with ``source: follower.openid``, read
    with the record; the primary account's followers), ``link`` (the follower records
    whose ``follower.link`` field points at it; their account from a follower field with
    ``source: event.account``), ``auto`` (``openid_field`` when there is such a match
    rule, else ``link``). ``batch_size``: record ids per change job (and per query).
    """

    enabled: bool = True
    objects: list[ApiName] | None = None
    followers: Literal["auto", "openid_field", "link"] = "auto"
    tags: TagSettings = Field(default_factory=TagSettings)
    batch_size: int = Field(default=200, ge=1, le=200)

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org:
        none (it names objects; their fields are the field rules' own)."""
        return []


@dataclass(frozen=True)
class BackRule:
    """One field that flows back: ``object.field`` sets the follower's ``target``
    (``remark`` or ``tags``). ``separator`` splits tag text; ``default``/``map`` are the
    rule's own, undone on the way back (a field holding the rule's default, or a mapped
    value, stands for the WeChat value it came from); ``conflict`` is the rule's policy
    (``prefer_salesforce_unless_blank``: a blank field leaves WeChat as it is)."""

    object: str
    field: str
    target: Literal["remark", "tags"]
    path: tuple[str | int, ...]
    separator: str = DEFAULT_SEPARATOR
    default: Any = None
    map: tuple[tuple[str, Any], ...] = ()
    conflict: str | None = None

    def wechat_value(self, value: Any) -> Any:
        """The field's value as WeChat's (still text for tags): the rule's ``map``
        reversed, its ``default`` as blank."""
        if value is None:
            return None
        if self.default is not None and value == self.default:
            return None
        for key, mapped in self.map:
            if mapped == value:
                return key
        return value


@dataclass(frozen=True)
class FollowerFinder:
    """How records of ``object`` find their followers: ``openid_field`` (a field of the
    record holding the openid), or ``link_field`` (the follower object's lookup to it).
    Follower records are their own: ``openid_field`` is the external id. ``account_field``
    (on the follower object) names the account, when the mapping writes it."""

    object: str
    openid_field: str | None = None
    link_field: str | None = None
    account_field: str | None = None


def separator(transform: str | None, settings: TagSettings) -> str:
    """How a rule's tag text splits into names: ``way_back.tags.separator``, else the
    argument of the rule's ``join(...)``, else ``;``."""
    if settings.separator is not None:
        return settings.separator
    for name, arg in parse_chain(transform) if transform else ():
        if name == "join":
            return arg if arg else DEFAULT_SEPARATOR
    return DEFAULT_SEPARATOR
