"""API call accounting: the org's daily request limit, over a rolling 24 hours, and
counters by kind of call.

Salesforce counts "the aggregate of all API calls made to the org in a 24-hour period"
and, once the limit is reached, blocks calls "until usage for the preceding 24 hours
drops below the limit" (https://help.salesforce.com/s/articleView?id=xcloud.setup_system_overview_api.htm):
a rolling window, not a daily reset. Each call is kept with the time it was made and
ages out 24 hours later. A refused call is answered 403 ``[{"message": "TotalRequests
Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]`` (a real org's answer in
https://gist.github.com/rickysaltzer/4542457) and is not counted.

The org's limit is shared by every app that calls it: :meth:`ApiUsage.spend` plays
another integration's calls (counted against the limit, not in the bridge's counters),
which age out after the seconds given, so a test can spend the limit "for a while".
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from sandbox.salesforce.errors import SalesforceError

DAY_SECONDS = 24 * 3600


class ApiUsage:
    """Counts REST calls against a daily limit over a rolling window.

    ``snapshot()`` counts the calls served since the last :meth:`reset` (``total`` plus
    one key per kind), ``refused`` the calls refused for the limit; ``used`` is what the
    limit sees: every call, this client's or another's, of the last ``window`` seconds.
    ``clock`` is injectable for tests.
    """

    def __init__(self, limit: int, *, window: float = DAY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._passed = 0.0  # seconds pass_time() moved the window on
        self._counts: Counter[str] = Counter()
        self._calls: deque[float] = deque()  # when each call of the window ages out
        self.refused = 0
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self._clock() + self._passed

    def _age_out(self) -> int:
        now = self._now()
        while self._calls and self._calls[0] <= now:
            self._calls.popleft()
        return len(self._calls)

    @property
    def used(self) -> int:
        """Calls of the last 24 hours (the rolling window)."""
        with self._lock:
            return self._age_out()

    def charge(self, kind: str) -> None:
        """Count one call of ``kind``.

        Raises:
            SalesforceError: REQUEST_LIMIT_EXCEEDED (403) while the calls of the last 24
                hours reach the limit; the refused call is not counted.
        """
        with self._lock:
            if self._age_out() >= self.limit:
                self.refused += 1
                raise SalesforceError("REQUEST_LIMIT_EXCEEDED", status=403)
            self._calls.append(self._now() + self.window)
            self._counts["total"] += 1
            self._counts[kind] += 1

    def spend(self, calls: int | None = None, *, seconds: float) -> int:
        """Play ``calls`` calls of another app (None: all that remain), made long enough
        ago that they age out of the window in ``seconds``. Returns the calls added.
        """
        with self._lock:
            count = self.limit - self._age_out() if calls is None else calls
            count = max(0, count)
            expires = self._now() + seconds
            # the window stays ordered by expiry: they go between earlier and later calls
            kept = [t for t in self._calls if t > expires]
            older = [t for t in self._calls if t <= expires]
            self._calls = deque(older + [expires] * count + kept)
            return count

    def pass_time(self, seconds: float) -> None:
        """Move the window on by ``seconds`` (a test's "hours later"): the calls made
        more than a day before then age out."""
        with self._lock:
            self._passed += seconds

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"total": self._counts["total"], **self._counts}

    def reset(self) -> None:
        """Zero the counters and free the whole window (a new day for the org)."""
        with self._lock:
            self._counts.clear()
            self._calls.clear()
            self.refused = 0

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value: the window's calls against the limit
        (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm,
        ``api-usage=18/5000``)."""
        return f"api-usage={self.used}/{self.limit}"
