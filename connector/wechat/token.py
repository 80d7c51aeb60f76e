"""The WeChat access token, shared by every process through Redis.

WeChat allows a limited number of token fetches a day, and with the legacy
``/cgi-bin/token`` each fetch invalidates the token other processes hold. The bridge
fetches with ``/cgi-bin/stable_token`` (the same token for every caller) and keeps it in
one Redis key per AppID, so all processes and dynos use one token and fetch it once:

- a hit is a single ``GET``;
- on a miss, one process takes a short lock (:mod:`connector.locks`) and fetches, the
  others poll for the value (bounded, then :class:`RetriableError`) — single flight;
- when WeChat rejects a token, :meth:`TokenCache.replace` deletes it only if the cache
  still holds that very token (:func:`connector.locks.release_owned`, atomic), so a
  process that failed late never throws away the fresh token another process just
  stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
import tenacity

from connector.errors import RetriableError
from connector.locks import holding, release_owned

log = logging.getLogger(__name__)

# force_refresh -> (token, expires_in seconds). Raises BridgeError subclasses.
Fetch = Callable[[bool], tuple[str, int]]

# Stop using a token this long before WeChat says it expires, so a call never carries a
# token that dies in flight.
EXPIRY_MARGIN = 300


def cache_ttl(expires_in: int, margin: int = EXPIRY_MARGIN) -> int:
    """Seconds to keep a token WeChat says lives ``expires_in`` seconds (at least 1)."""
    if expires_in > 2 * margin:
        return expires_in - margin
    return max(1, expires_in // 2)


class TokenCache:
    """One AppID's access token in Redis, refreshed by one process at a time.

    Args:
        redis: the shared Redis.
        app_id: the AppID; it names the keys, so accounts never share a token.
        fetch: gets a token from WeChat (``force_refresh`` flag in, ``(token, expires_in)``
            out); called by whichever process holds the lock.
        lock_seconds: how long the refresh lock lives; longer than two fetches.
        wait_seconds: how long a process waits for another's refresh before giving up.
        poll_seconds: how often a waiting process looks for the new token.
    """

    def __init__(self, redis: redis.Redis, app_id: str, fetch: Fetch, *,
                 lock_seconds: float, wait_seconds: float, poll_seconds: float = 0.05) -> None:
        self._redis = redis
        self._fetch = fetch
        self.key = f"wechat:token:{app_id}"
        self._lock_key = f"{self.key}:lock"
        self._lock_seconds = lock_seconds
        self._wait = wait_seconds
        self._poll = poll_seconds

    def get(self) -> str:
        """The current token, fetching it (once across all processes) when none is cached.

        Raises:
            RetriableError: another process holds the refresh lock and no token appeared
                within ``wait_seconds``.
            BridgeError: whatever ``fetch`` raises (bad AppSecret, IP not whitelisted...).
        """
        return self._read() or self._fill(rejected=None)

    def replace(self, rejected: str) -> str:
        """A token other than ``rejected``, which WeChat has just refused.

        The cached token is dropped only if it is still ``rejected``. The refresh asks for
        the stable token without forcing first; only if WeChat hands back the rejected one
        again is ``force_refresh`` used (it is rate-limited and renews the token for all).

        Raises:
            Same as :meth:`get`.
        """
        release_owned(self._redis, rejected, [self.key])
        return self._fill(rejected=rejected)

    def _read(self) -> str | None:
        value = self._redis.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def _fill(self, rejected: str | None) -> str:
        # tenacity polls: until a token other than ``rejected`` is cached or this process
        # holds the lock and fetched one, for at most ``wait_seconds``.
        polling = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda token: token is None),
            stop=tenacity.stop_after_delay(self._wait),
            wait=tenacity.wait_fixed(self._poll),
            retry_error_callback=_waited_too_long)
        return polling(self._try_fill, rejected)

    def _try_fill(self, rejected: str | None) -> str | None:
        """A token, or None while another process holds the refresh lock."""
        cached = self._read()
        if cached and cached != rejected:
            return cached
        with holding(self._redis, self._lock_key, ttl=self._lock_seconds) as held:
            if held:
                return self._refresh(rejected)
        return None

    def _refresh(self, rejected: str | None) -> str:
        # Re-read under the lock: the previous holder may have stored a token between our
        # miss and our lock.
        cached = self._read()
        if cached and cached != rejected:
            return cached
        token, expires_in = self._fetch(False)
        if rejected is not None and token == rejected:
            log.warning("WeChat returned the rejected access token again; forcing a refresh")
            token, expires_in = self._fetch(True)
        self._redis.set(self.key, token, ex=cache_ttl(expires_in))
        log.info("stored a new WeChat access token (valid %d s)", expires_in)
        return token


def _waited_too_long(state: tenacity.RetryCallState) -> str:
    raise RetriableError(
        "timed out waiting for another process to refresh the WeChat access token",
        system="wechat", code="TOKEN_WAIT", retry_after=5)
