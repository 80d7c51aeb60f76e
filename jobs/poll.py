"""The clock's job: poll Salesforce for changes (:func:`connector.wayback.poll.poll`).

The clock (``jobs/clock.py``) registers :func:`poll_changes` by this dotted path, and
rq keeps it with every poll job queued: it stays here across releases.
"""

from __future__ import annotations

from typing import Any

from connector.wayback.poll import poll
from jobs.runtime import get_context


def poll_changes() -> dict[str, Any]:
    """Poll every watched object once; each object's summary, by name."""
    return poll(get_context())
