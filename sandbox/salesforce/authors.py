"""Who writes to the sandbox's records, and who hears about it.

Salesforce stamps each write with the user of the session (``LastModifiedById``); the
client an API call names in ``Sforce-Call-Options: client=<name>`` shows in Event
Monitoring but not on the record. The sandbox keeps both per record, so a test can tell
the bridge's writes (its integration user, client ``WeChatBridge``) from an admin's (a
different user in the UI, no client) and count them.

The actor of a write is set per request (the API app) or per thread (an admin's edit in
a test) with :meth:`Authors.acting_as`; without one, writes are the integration user's.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sandbox.salesforce.ids import normalize

_CLIENT = re.compile(r"(?:^|,)\s*client\s*=\s*([^,]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Actor:
    """A user id and the client name its call carried (None: no client named, as in the
    Salesforce UI)."""

    user_id: str
    client: str | None = None


def client_of(call_options: str | None) -> str | None:
    """``client`` of a ``Sforce-Call-Options`` header (``client=X, defaultNamespace=Y``)."""
    match = _CLIENT.search(call_options or "")
    return match.group(1).strip() if match else None


# The actor of the request or thread in progress; None: the integration user.
_actor: ContextVar[Actor | None] = ContextVar("sandbox_salesforce_actor", default=None)

# An observer hears (object name, record before or None, record after, actor) per write.
Observer = Callable[[str, dict | None, dict, Actor], None]


class Authors:
    """The authors of one store's writes. ``lock`` is the store's: writes are noted
    under it, in the order they happen."""

    def __init__(self, default_user: str, lock: threading.RLock) -> None:
        self.default_user = default_user
        self._lock = lock
        self._last: dict[str, Actor] = {}
        self._by_client: Counter[str | None] = Counter()
        self._observers: list[Observer] = []

    @contextmanager
    def acting_as(self, actor: Actor) -> Iterator[Actor]:
        """Make ``actor`` the author of the writes in this block (this task or thread)."""
        token = _actor.set(actor)
        try:
            yield actor
        finally:
            _actor.reset(token)

    def current(self) -> Actor:
        """The author of a write made now."""
        return _actor.get() or Actor(self.default_user)

    def last_writer(self, record_id: str) -> Actor | None:
        """Who made the last write to the record (None: an unknown id)."""
        with self._lock:
            return self._last.get(normalize(record_id) or "")

    def writes_by_client(self) -> Counter[str | None]:
        """Record writes so far per client name (None: no client named)."""
        with self._lock:
            return Counter(self._by_client)

    def observe(self, observer: Observer) -> None:
        """Call ``observer`` after every create, update and delete. It runs under the
        store's lock, so it must only take note (e.g. put the change on a queue)."""
        with self._lock:
            self._observers.append(observer)

    def wrote(self, sobject: str, before: dict | None, after: dict, actor: Actor) -> None:
        """Note one write (the store calls this under its lock)."""
        self._last[after["Id"]] = actor
        self._by_client[actor.client] += 1
        for observer in self._observers:
            observer(sobject, before, after, actor)
