"""A Salesforce session shared by every process through Redis.

RQ's HerokuWorker forks a fresh work horse per job, so a session kept in process memory
would cost a login per job. The store keeps the access token and instance URL in Redis;
an expired one is dropped only if it is still the cached one (compare-and-delete), so a
process never throws away the fresh session another process just stored. Concurrent
logins are harmless (Salesforce sessions don't invalidate each other), so no lock.
If Redis fails, the gateway simply logs in itself.
"""

from __future__ import annotations

import json
import logging

from redis import Redis, RedisError

from connector.salesforce.auth import Token

log = logging.getLogger("connector.salesforce")

# Salesforce sessions live 15 min to 24 h (an org setting) and are extended by use; an
# hour bounds how long a revoked session is tried, and a refused one is replaced at once.
SESSION_SECONDS = 3600

_DROP_IF_SAME = """
local value = redis.call('GET', KEYS[1])
if value and cjson.decode(value)['access_token'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class SessionStore:
    """Redis key ``bridge:salesforce:session:<client id>:<username>``."""

    def __init__(self, redis: Redis, client_id: str, username: str | None) -> None:
        self._redis = redis
        self.key = f"bridge:salesforce:session:{client_id}:{username or 'client-credentials'}"

    def get(self) -> Token | None:
        try:
            raw = self._redis.get(self.key)
        except RedisError as exc:
            log.warning("cannot read the shared Salesforce session: %s", exc)
            return None
        if not raw:
            return None
        data = json.loads(raw)
        return Token(instance_url=data["instance_url"], access_token=data["access_token"],
                     identity_url=data.get("id"))

    def put(self, token: Token) -> None:
        value = json.dumps({"instance_url": token.instance_url,
                            "access_token": token.access_token, "id": token.identity_url})
        try:
            self._redis.set(self.key, value, ex=SESSION_SECONDS)
        except RedisError as exc:
            log.warning("cannot share the Salesforce session: %s", exc)

    def drop(self, rejected_token: str) -> None:
        """Forget the cached session if it is the one Salesforce just refused."""
        try:
            self._redis.eval(_DROP_IF_SAME, 1, self.key, rejected_token)
        except RedisError as exc:
            log.warning("cannot drop the shared Salesforce session: %s", exc)
