"""Value transforms a mapping field can apply (pure functions, no I/O).

A transform is named in the mapping as ``name`` or ``name(argument)``; they chain with
``|``, e.g. ``transform: "join(;)|truncate(255)"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

CALL = re.compile(r"^([a-z_]+)(?:\((.*)\))?$")


def unix_to_datetime(value: Any, _arg: str | None = None) -> str | None:
    """WeChat's unix seconds → a Salesforce datetime (UTC, ISO 8601)."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_to_date(value: Any, _arg: str | None = None) -> str | None:
    """WeChat's unix seconds → a Salesforce date (UTC)."""
    stamp = unix_to_datetime(value)
    return stamp[:10] if stamp else None


def join(value: Any, arg: str | None = None) -> str:
    """A list → text joined by the argument (default ``;``, a multi-select picklist)."""
    if isinstance(value, list | tuple):
        return (arg if arg is not None else ";").join(str(v) for v in value)
    return "" if value is None else str(value)


def truncate(value: Any, arg: str | None = None) -> Any:
    """Text cut to at most ``arg`` characters."""
    if value is None or arg is None:
        return value
    return str(value)[: int(arg)]


TRANSFORMS: dict[str, Callable[[Any, str | None], Any]] = {
    "unix_to_datetime": unix_to_datetime,
    "unix_to_date": unix_to_date,
    "join": join,
    "truncate": truncate,
    "lower": lambda v, _a=None: v.lower() if isinstance(v, str) else v,
    "upper": lambda v, _a=None: v.upper() if isinstance(v, str) else v,
    "trim": lambda v, _a=None: v.strip() if isinstance(v, str) else v,
}


def parse_chain(spec: str) -> list[tuple[str, str | None]]:
    """Split ``"join(;)|truncate(80)"`` into [(name, arg), ...].

    Raises:
        ValueError: naming an unknown transform and listing the known ones.
    """
    steps = []
    for part in spec.split("|"):
        match = CALL.match(part.strip())
        if not match or match.group(1) not in TRANSFORMS:
            known = ", ".join(sorted(TRANSFORMS))
            raise ValueError(f"unknown transform {part.strip()!r}; known: {known}")
        steps.append((match.group(1), match.group(2)))
    return steps


def apply_chain(spec: str | None, value: Any) -> Any:
    if not spec:
        return value
    for name, arg in parse_chain(spec):
        value = TRANSFORMS[name](value, arg)
    return value
