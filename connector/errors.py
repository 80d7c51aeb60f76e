"""The bridge's error tree: failures grouped by what the caller should do.

::

    BridgeError                  root; carries system, status, code, request_id, fields
    ├── RetriableError           try again later (network, 5xx, locks, rate limits)
    │   └── RateLimitedError     the server asked us to slow down; honour retry_after
    ├── FatalError               retrying cannot help; keep the event for an operator
    │   └── ConfigurationError   our own settings or mapping are wrong
    └── SkippableError           nothing to do for this record (e.g. user unfollowed)

Gateways (the packages ``connector/salesforce/`` and ``connector/wechat/``) raise only these, so
jobs decide with one ``except`` per branch and never parse an error string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

System = Literal["salesforce", "wechat", "bridge", "redis"]


@dataclass
class BridgeError(Exception):
    """Root of every failure the bridge knows how to describe.

    Attributes:
        message: what happened, in words an operator or admin can act on.
        system: which outside system answered (or failed to).
        status: HTTP status, when there was one.
        code: the system's own error code (``REQUIRED_FIELD_MISSING``, ``45009``...).
        request_id: the system's request id, when it sent one, for support tickets.
        fields: the Salesforce fields the error names, if any.
    """

    message: str
    system: System = "bridge"
    status: int | None = None
    code: str | None = None
    request_id: str | None = None
    fields: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [f"{self.system}"]
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        head = " ".join(parts)
        text = f"[{head}] {self.message}"
        if self.fields:
            text += f" (fields: {', '.join(self.fields)})"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __reduce__(self):  # keep pickling (rq stores exceptions) faithful to the dataclass
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls, state):
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    Exception.__init__(obj, state.get("message", ""))
    return obj


@dataclass
class RetriableError(BridgeError):
    """A transient failure: the same call may succeed later."""

    retry_after: float | None = None


@dataclass
class RateLimitedError(RetriableError):
    """The server said "too many requests"; ``retry_after`` seconds is its hint."""


@dataclass
class FatalError(BridgeError):
    """Retrying cannot help: the data or the configuration must change first."""


@dataclass
class ConfigurationError(FatalError):
    """A setting or the mapping is wrong; the message names it and the fix."""


@dataclass
class SkippableError(BridgeError):
    """Nothing to do for this record (the follower left, the record is gone)."""
