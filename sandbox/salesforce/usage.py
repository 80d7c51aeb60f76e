"""API call accounting: the daily request limit and counters by kind of call."""

from __future__ import annotations

import threading
from collections import Counter

from sandbox.salesforce.errors import SalesforceError


class ApiUsage:
    """Counts REST calls (``total`` plus one key per kind) against a daily limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._counts["total"]

    def charge(self, kind: str) -> None:
        """Count one call of ``kind``.

        Raises:
            SalesforceError: REQUEST_LIMIT_EXCEEDED (403) once the daily limit is spent;
                the refused call is not counted.
        """
        with self._lock:
            if self._counts["total"] >= self.limit:
                raise SalesforceError("REQUEST_LIMIT_EXCEEDED", status=403)
            self._counts["total"] += 1
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"total": self._counts["total"], **self._counts}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value."""
        return f"api-usage={self.used}/{self.limit}"
