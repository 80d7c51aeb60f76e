"""Access tokens with WeChat's lifetimes, replacement grace and daily quotas.

Two independent families, as on WeChat:

- ``cgi-bin/token``: every call issues a new token; the previous one from this endpoint
  keeps working for :data:`GRACE` seconds, then answers 40001. This is why several
  processes each fetching their own token knock each other out. (Its 2,000 calls a day
  are counted with every API's quota: :mod:`sandbox.wechat.quotas`.)
- ``cgi-bin/stable_token``: every caller gets the same token until it expires;
  ``force_refresh`` issues a new one (at most ``force_refresh_per_day`` times, then 45009)
  and the old one keeps working for :data:`GRACE` seconds.

A token past its 7200 s lifetime answers 42001 (expired); one replaced and past its grace
answers 40001 (invalid or not latest); an unknown one 40001; none 41001.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.wechat.errors import ApiError

LIFETIME = 7200
GRACE = 300
DAY = 86_400


@dataclass
class _Token:
    value: str
    family: str  # "token" or "stable"
    expires_at: float
    replaced_at: float | None = None


class TokenStore:
    """Issues and checks tokens against ``clock`` (seconds, like :func:`time.time`)."""

    def __init__(self, clock: Callable[[], float], *, force_refresh_per_day: int = 20) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, _Token] = {}
        self._limits = {"stable": force_refresh_per_day}
        self._used: dict[tuple[str, int], int] = {}

    def _spend(self, family: str, now: float) -> None:
        key = (family, int(now // DAY))
        if self._used.get(key, 0) >= self._limits[family]:
            raise ApiError(45009)
        self._used[key] = self._used.get(key, 0) + 1

    def _issue(self, family: str, now: float) -> _Token:
        previous = self._current.get(family)
        if previous is not None and previous.replaced_at is None:
            previous.replaced_at = now
        # Real tokens are ~140 characters of [A-Za-z0-9_-] after a numeric prefix.
        token = _Token(f"{secrets.randbelow(90) + 10}_{secrets.token_urlsafe(105)}", family,
                       now + LIFETIME)
        self._tokens[token.value] = self._current[family] = token
        return token

    def issue(self) -> tuple[str, int]:
        """``cgi-bin/token``: a new token (its daily quota is checked before: quotas.py)."""
        now = self._clock()
        with self._lock:
            return self._issue("token", now).value, LIFETIME

    def stable(self, *, force_refresh: bool = False) -> tuple[str, int]:
        """``cgi-bin/stable_token``: the shared token and its remaining seconds.

        Raises:
            ApiError(45009): ``force_refresh`` beyond the daily allowance.
        """
        now = self._clock()
        with self._lock:
            token = self._current.get("stable")
            if force_refresh:
                self._spend("stable", now)
                token = self._issue("stable", now)
            elif token is None or token.expires_at <= now:
                token = self._issue("stable", now)
            return token.value, max(1, int(token.expires_at - now))

    def check(self, value: str | None) -> None:
        """Accept a token for an API call.

        Raises:
            ApiError: 41001 missing, 40001 unknown or replaced past its grace, 42001 expired.
        """
        if not value:
            raise ApiError(41001)
        now = self._clock()
        with self._lock:
            token = self._tokens.get(value)
        if token is None or (token.replaced_at is not None and now > token.replaced_at + GRACE):
            raise ApiError(40001)
        if now >= token.expires_at:
            raise ApiError(42001)

    def expire_all(self) -> None:
        """Make every issued token expired now (as after a long pause)."""
        now = self._clock()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now)

    def current(self, family: str = "stable") -> str | None:
        """The latest token of a family, for tests that want to call the API directly."""
        with self._lock:
            token = self._current.get(family)
            return token.value if token else None
