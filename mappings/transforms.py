"""Value transforms a mapping field can apply (pure functions, no I/O).

A transform is named in the mapping as ``name`` or ``name(argument)``; they chain with
``|``, e.g. ``transform: "join(;)|truncate(255)"``. ``fit`` is the one that depends on
where the value goes: it cuts to the target field's length, which the caller passes
(from the org's describe) to :func:`apply_chain`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CALL = re.compile(r"^([a-z_][a-z0-9_]*)(?:\((.*)\))?$", re.DOTALL)


def unix_to_datetime(value: Any, _arg: str | None = None) -> str | None:
    """WeChat's unix seconds → a Salesforce datetime (UTC, ISO 8601)."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact
# for every WeChat timestamp and needs no time zone database on the machine.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
ZONES = {"Asia/Shanghai": SHANGHAI, "UTC": UTC}


def unix_to_date(value: Any, arg: str | None = None) -> str | None:
    """WeChat's unix seconds → a Salesforce date, the calendar day in Asia/Shanghai
    (where the follower scanned) unless the argument says ``UTC``. A datetime needs no
    zone: ``unix_to_datetime`` gives the instant, which Salesforce shows in each user's
    own zone."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=ZONES[arg or "Asia/Shanghai"]).strftime(
        "%Y-%m-%d")


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


def fit(value: Any, length: int | None = None) -> Any:
    """Text cut to the target field's ``length`` in characters (Salesforce counts a
    field's length in characters, so a Chinese character is one, and slicing by
    characters never splits one); unchanged when the length is unknown."""
    if value is None or length is None:
        return value
    return str(value)[:length]


def truncate_bytes(value: Any, arg: str | None = None) -> Any:
    """Text cut to at most ``arg`` UTF-8 bytes, never inside a character (Chinese text is
    3 bytes a character; WeChat's remark limit is 30 bytes)."""
    if value is None or arg is None:
        return value
    raw = str(value).encode("utf-8")[: int(arg)]
    return raw.decode("utf-8", errors="ignore")


def split(value: Any, arg: str | None = None) -> Any:
    """Text → list, split on the argument (default ``;``); blanks dropped."""
    if not isinstance(value, str):
        return value
    return [part.strip() for part in value.split(arg or ";") if part.strip()]


def regex(value: Any, arg: str | None = None) -> Any:
    """The first group (or the whole match) of the pattern in the text; None if no match."""
    if value is None or not arg:
        return value
    match = re.search(arg, str(value))
    if not match:
        return None
    return match.group(1) if match.groups() else match.group(0)


def sha256(value: Any, _arg: str | None = None) -> Any:
    """The hex SHA-256 of the text: matchable, but not readable (privacy)."""
    if value is None or value == "":
        return value
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


TRANSFORMS: dict[str, Callable[[Any, str | None], Any]] = {
    "truncate_bytes": truncate_bytes,
    "split": split,
    "regex": regex,
    "sha256": sha256,
    "unix_to_datetime": unix_to_datetime,
    "unix_to_date": unix_to_date,
    "join": join,
    "truncate": truncate,
    "fit": lambda v, _a=None: v,  # needs the field's length: apply_chain cuts with fit()
    "lower": lambda v, _a=None: v.lower() if isinstance(v, str) else v,
    "upper": lambda v, _a=None: v.upper() if isinstance(v, str) else v,
    "trim": lambda v, _a=None: v.strip() if isinstance(v, str) else v,
}


def parse_chain(spec: str) -> list[tuple[str, str | None]]:
    """Split ``"join(;)|truncate(80)"`` into [(name, arg), ...].

    A ``|`` inside parentheses belongs to the argument (``regex(a|b)``).

    Raises:
        ValueError: naming an unknown transform or a bad argument.
    """
    steps, depth, start = [], 0, 0
    parts = []
    for i, char in enumerate(spec + "|"):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise ValueError(f"unbalanced ')' in transform {spec!r}")
        if char == "|" and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"unbalanced '(' in transform {spec!r}: close every argument")
    for part in parts:
        match = CALL.match(part.strip())
        if not match or match.group(1) not in TRANSFORMS:
            known = ", ".join(sorted(TRANSFORMS))
            raise ValueError(f"unknown transform {part.strip()!r}; known: {known}")
        name, arg = match.group(1), match.group(2)
        if name == "unix_to_date" and arg is not None and arg not in ZONES:
            raise ValueError(f"unix_to_date({arg}): the zone must be one of {', '.join(ZONES)}")
        if name in {"truncate", "truncate_bytes"} and not (arg or "").isdigit():
            raise ValueError(f"{name} needs a whole number, e.g. {name}(80)")
        if name == "fit" and arg is not None:
            raise ValueError(f"fit takes no argument: it cuts to the field's length from the "
                             f"org — write fit, or truncate({arg}) for a length of your own")
        if name == "regex":
            try:
                re.compile(arg or "")
            except re.error as exc:
                raise ValueError(f"regex({arg}) is not a valid pattern: {exc}") from None
        steps.append((name, arg))
    return steps


def apply_chain(spec: str | None, value: Any, length: int | None = None) -> Any:
    """``value`` through the chain ``spec``; ``length``: the target field's length in
    characters, for ``fit`` (None: unknown, ``fit`` leaves the value as it is)."""
    if not spec:
        return value
    for name, arg in parse_chain(spec):
        value = fit(value, length) if name == "fit" else TRANSFORMS[name](value, arg)
    return value
