"""One finding of the preflight, and how a list of them is shown and judged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail", "skip"]
_LABEL = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


@dataclass(frozen=True)
class Check:
    """``subject``: what was checked; ``detail``: what was found and, unless ``ok``, the
    fix (one or more lines)."""

    section: str
    subject: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def render(checks: Iterable[Check]) -> str:
    """The report as an admin reads it: a heading per section, a line per check, the
    lines of a finding indented under it."""
    lines: list[str] = []
    section = None
    for check in checks:
        if check.section != section:
            section = check.section
            lines.append(("\n" if lines else "") + section)
        first, *more = check.detail.splitlines() or [""]
        lines.append(f"  {_LABEL[check.status]:<5} {check.subject}: {first}")
        lines += [f"        {line}" for line in more]
    return "\n".join(lines)


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed (warnings and skipped checks allowed), else 1."""
    return 1 if any(c.status == "fail" for c in checks) else 0
