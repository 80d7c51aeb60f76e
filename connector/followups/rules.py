"""Follow-ups decided without I/O: which rules an event fires, the follow-up's id and due
time, whether a person's values cancel it, and the template data it carries.

The keyword trigger's text match is :func:`keyword_matches`, the one place a text is
compared with a keyword rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from connector.events import InboundEvent
from connector.follower import Follower
from connector.ids import is_campaign_id, same_id
from connector.replies.keywords import KeywordRule, find_rule
from connector.scenes import parse_scene
from mappings.follow_ups_section import Condition, FollowUpRule, TemplateMessage, Trigger

# The event kinds (``InboundEvent.event``) each trigger kind listens to.
_EVENTS = {"click": ("click",), "scan": ("scan", "subscribe"), "follow": ("subscribe",)}


def keyword_matches(trigger: Trigger, text: str | None) -> bool:
    """Whether a text message's ``text`` matches a keyword trigger: ``exact`` (the
    whole text, ignoring case and surrounding spaces) or ``contains``, matched as the
    keyword replies match (:mod:`connector.replies.keywords`)."""
    if not text or trigger.text is None:
        return False
    rule = KeywordRule(name="follow-up trigger", match=trigger.match, keyword=trigger.text)
    return find_rule([rule], text) is not None


def _campaign_matches(wanted: str | None, scene: str | None, prefix: str) -> bool:
    if wanted is None:
        return True
    parsed = parse_scene(scene, [prefix])
    if parsed is None:
        return False
    if is_campaign_id(wanted) and is_campaign_id(parsed.key):
        return same_id(wanted, parsed.key)
    return wanted == parsed.key


def fires(trigger: Trigger, event: InboundEvent, scene_prefix: str) -> bool:
    """Whether ``event`` starts a follow-up of ``trigger`` (``scene_prefix``: the
    mapping's ``campaigns.scene_prefix``)."""
    if trigger.kind == "keyword":
        return event.msg_type == "text" and keyword_matches(trigger, event.content)
    if event.event not in _EVENTS[trigger.kind]:
        return False
    if trigger.kind == "click":
        return event.event_key == trigger.key
    if trigger.kind == "scan" and not event.scene:
        return False  # a follow from search or a shared card is no scan
    return _campaign_matches(trigger.campaign, event.scene, scene_prefix)


def triggered(rules: list[FollowUpRule], event: InboundEvent,
              scene_prefix: str) -> list[FollowUpRule]:
    """The rules ``event`` fires, in the file's order."""
    return [rule for rule in rules if fires(rule.trigger, event, scene_prefix)]


def follow_up_id(rule: str, dedupe_key: str) -> str:
    """The follow-up's id: one per (rule, triggering event), so WeChat's resends of a push
    (one dedupe key), rq's retries and replays all name the same follow-up."""
    return "fu-" + hashlib.sha256(f"{rule}\x1f{dedupe_key}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class FollowUp:
    """One follow-up to send: ``at`` the triggering event's CreateTime, ``due`` when it
    is sent (unix seconds)."""

    id: str
    rule: str
    account: str
    openid: str
    event_key: str
    at: int
    due: int

    @classmethod
    def of(cls, rule: FollowUpRule, event: InboundEvent) -> FollowUp:
        """The follow-up ``rule`` makes of ``event``: due ``rule.delay`` after the event
        (not after it was processed, so a batch retried late does not push it back)."""
        return cls(follow_up_id(rule.name, event.dedupe_key), rule.name, event.account,
                   event.openid, event.dedupe_key, event.create_time,
                   event.create_time + rule.delay)

    def as_fields(self) -> dict[str, str | int]:
        return {"rule": self.rule, "account": self.account, "openid": self.openid,
                "event_key": self.event_key, "at": self.at, "due": self.due}


def _same(actual: Any, expected: Any) -> bool:
    """Salesforce's value against a condition's: booleans and numbers by value (the
    REST API answers JSON booleans and numbers), text exactly; null only equals null."""
    if expected is None or actual is None:
        return expected is None and actual in (None, "")
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(actual).lower() == str(expected).lower()
    if isinstance(expected, int | float) and not isinstance(actual, str):
        return float(actual) == float(expected)
    return str(actual) == str(expected)


def blocking(conditions: list[Condition], persons: dict[str, dict[str, Any]]
             ) -> Condition | None:
    """The first condition that holds on the follower's persons (object → the person's
    row), which cancels the follow-up; None when none does. A follower without a person
    on a condition's object passes it."""
    for condition in conditions:
        row = persons.get(condition.object)
        if row is not None and _same(row.get(condition.field), condition.equals):
            return condition
    return None


def template_data(template: TemplateMessage, follower: Follower,
                  person: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The template API's ``data``: each key's value from the file, the follower's
    profile or the person's row (blank when there is no person or no value)."""
    data: dict[str, dict[str, str]] = {}
    for key, item in template.data.items():
        if item.value is not None:
            value: Any = item.value
        elif item.source is not None:
            value = getattr(follower, item.source.partition(".")[2], None)
        else:
            value = (person or {}).get(str(item.person))
        entry = {"value": "" if value is None else str(value)}
        if item.color:
            entry["color"] = item.color
        data[key] = entry
    return data
