"""What the bridge sent for each message request, in Redis: the record that makes a
resend of a request send nobody twice, and the map WeChat's job-finish events are read
back through.

Keys:
    bridge:message:<request Id>:log   hash, OpenID → state (JSON): ``claimed`` (a send
                                      is under way), ``sent``, ``delivered``, ``failed``
                                      (WeChat's job-finish report), with the msg id
    bridge:message:<request Id>:delivered   how many WeChat reported delivered
    bridge:message:<request Id>:waiting     JSON: why the send job waits (a retry after
                                      WeChat's quota or an outage, a pause for
                                      Salesforce's daily limit) and until when
    bridge:msgid:<account>:<msg id>   JSON: the request and the OpenIDs of one mass send
    bridge:msgid:<account>:<msg id>:finished   set once its job-finish event is counted
    bridge:tplmsg:<account>:<msg id>:<OpenID>   list: the requests whose template send
                                      to the follower answered that msg id, oldest
                                      first (a msg id is not unique: 0 has been seen)
    bridge:tplmsg:<account>:<report key>:finished   set once that report is counted

A claim is taken (``HSETNX``) before a send and turned into ``sent`` after it, so two
runs of one request never send to the same follower; a claim that outlives its run
(the worker died mid-send) is resolved by the next run (:mod:`.sender`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from redis import Redis

LOG_TTL = 180 * 86400  # a request may be sent again (new members) for half a year
MSGID_TTL = 30 * 86400  # WeChat's job-finish events come within minutes to hours
DONE = frozenset({"sent", "delivered", "failed"})


@dataclass(frozen=True)
class State:
    """One follower's state for one request: ``status`` (claimed, sent, delivered,
    failed), ``msg_id`` (WeChat's, once sent), ``at`` (unix seconds of the change),
    ``channel`` (of a claim) and ``reason`` (of a failure)."""

    status: str
    at: float
    msg_id: str | None = None
    channel: str | None = None
    reason: str | None = None

    def dumps(self) -> str:
        data = {"s": self.status, "t": round(self.at, 3), "m": self.msg_id,
                "c": self.channel, "r": self.reason}
        return json.dumps({k: v for k, v in data.items() if v is not None})

    @classmethod
    def loads(cls, raw: str | bytes) -> State:
        data = json.loads(raw)
        return cls(data["s"], float(data.get("t", 0)), data.get("m"), data.get("c"),
                   data.get("r"))


def _decode(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SentLog:
    """The states of one request's followers."""

    def __init__(self, redis: Redis, message_id: str) -> None:
        self._redis = redis
        self.message_id = message_id
        self._key = f"bridge:message:{message_id}:log"

    def states(self, openids: Iterable[str] | None = None) -> dict[str, State]:
        """Every follower's state (or only ``openids``')."""
        if openids is None:
            raw = self._redis.hgetall(self._key)
            return {_decode(k): State.loads(v) for k, v in raw.items()}
        wanted = list(dict.fromkeys(openids))
        values = self._redis.hmget(self._key, wanted) if wanted else []
        return {o: State.loads(v) for o, v in zip(wanted, values, strict=True)
                if v is not None}

    def claim(self, openids: Iterable[str], channel: str, now: float, *,
              msg_id: str | None = None) -> list[str]:
        """Claim ``openids`` for a send (``msg_id``: the send's own key, e.g. a mass
        batch's ``clientmsgid``); those already claimed or sent are not returned."""
        wanted = list(dict.fromkeys(openids))
        if not wanted:
            return []
        value = State("claimed", now, msg_id, channel).dumps()
        with self._redis.pipeline(transaction=False) as pipe:
            for openid in wanted:
                pipe.hsetnx(self._key, openid, value)
            pipe.expire(self._key, LOG_TTL)
            flags = pipe.execute()[:-1]
        return [o for o, ok in zip(wanted, flags, strict=True) if ok]

    def release(self, openids: Iterable[str]) -> None:
        """Drop claims (the send was refused as a whole: nothing went out)."""
        wanted = list(openids)
        if wanted:
            self._redis.hdel(self._key, *wanted)

    def record(self, states: dict[str, State]) -> None:
        """Store states (sent, delivered, failed) of some followers."""
        if states:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._key, mapping={o: s.dumps() for o, s in states.items()})
                pipe.expire(self._key, LOG_TTL)
                pipe.execute()

    def add_delivered(self, count: int) -> int:
        """Add to the delivered count; the new total."""
        key = f"bridge:message:{self.message_id}:delivered"
        total = self._redis.incrby(key, count)
        self._redis.expire(key, LOG_TTL)
        return int(total)

    def delivered(self) -> int | None:
        value = self._redis.get(f"bridge:message:{self.message_id}:delivered")
        return None if value is None else int(value)


def note_waiting(redis: Redis, message_id: str, why: str, until: float | None) -> None:
    """Say why the request's send job waits (it is re-scheduled, not failed), and until
    when (unix seconds, None: unknown); read by :func:`waiting_of`."""
    redis.set(f"bridge:message:{message_id}:waiting", json.dumps({"why": why, "until": until}),
              ex=MSGID_TTL)


def clear_waiting(redis: Redis, message_id: str) -> None:
    """The send job runs to its end (done or failed): it waits no more."""
    redis.delete(f"bridge:message:{message_id}:waiting")


def waiting_of(redis: Redis, message_ids: list[str]) -> dict[str, dict]:
    """``{"why", "until"}`` of each request of ``message_ids`` whose send job waits
    (one ``MGET``)."""
    if not message_ids:
        return {}
    values = redis.mget([f"bridge:message:{m}:waiting" for m in message_ids])
    return {m: json.loads(v) for m, v in zip(message_ids, values, strict=True)
            if v is not None}


@dataclass(frozen=True)
class SendRef:
    """What one WeChat send was: the request, its OpenIDs, and the channel."""

    message_id: str
    openids: tuple[str, ...]
    channel: str


def _msgid_key(account: str, msg_id: str) -> str:
    return f"bridge:msgid:{account}:{msg_id}"


def remember_sends(redis: Redis, account: str, sends: dict[str, SendRef]) -> None:
    """Map each msg id of ``account`` to its send, for the job-finish events."""
    if not sends:
        return
    with redis.pipeline(transaction=False) as pipe:
        for msg_id, ref in sends.items():
            pipe.set(_msgid_key(account, msg_id), json.dumps(
                {"message": ref.message_id, "openids": list(ref.openids),
                 "channel": ref.channel}), ex=MSGID_TTL)
        pipe.execute()


def find_sends(redis: Redis, account: str, msg_ids: Iterable[str]) -> dict[str, SendRef]:
    """The sends of those ``msg_ids`` the map still holds."""
    wanted = list(dict.fromkeys(msg_ids))
    values = redis.mget([_msgid_key(account, m) for m in wanted]) if wanted else []
    found = {}
    for msg_id, raw in zip(wanted, values, strict=True):
        if raw is not None:
            data = json.loads(raw)
            found[msg_id] = SendRef(data["message"], tuple(data["openids"]), data["channel"])
    return found


def _template_key(account: str, msg_id: str, openid: str) -> str:
    return f"bridge:tplmsg:{account}:{msg_id}:{openid}"


def remember_template_send(redis: Redis, account: str, msg_id: str, openid: str,
                           message_id: str) -> None:
    """Note that the request ``message_id``'s template send to ``openid`` answered
    ``msg_id``; a second send with the same answer queues behind it."""
    key = _template_key(account, msg_id, openid)
    with redis.pipeline(transaction=False) as pipe:
        pipe.rpush(key, message_id)
        pipe.expire(key, MSGID_TTL)
        pipe.execute()


def take_template_send(redis: Redis, account: str, msg_id: str, openid: str
                       ) -> str | None:
    """The request of the oldest template send to ``openid`` that answered ``msg_id``
    and no report has taken yet (taken now), or None."""
    value = redis.lpop(_template_key(account, msg_id, openid))
    return None if value is None else _decode(value)


def give_back_template_send(redis: Redis, account: str, msg_id: str, openid: str,
                            message_id: str) -> None:
    """Undo :func:`take_template_send` (the report's writes failed)."""
    key = _template_key(account, msg_id, openid)
    with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(key, message_id)
        pipe.expire(key, MSGID_TTL)
        pipe.execute()


def _report_key(account: str, kind: str, key: str) -> str:
    if kind == "mass":
        return _msgid_key(account, key) + ":finished"
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"bridge:tplmsg:{account}:{digest}:finished"


def first_report(redis: Redis, account: str, kind: str, key: str) -> bool:
    """True the first time the job-finish report ``key`` (``FinishReport.key``) of
    ``account`` is counted (WeChat resends and operator replays count once)."""
    return bool(redis.set(_report_key(account, kind, key), "1", nx=True, ex=MSGID_TTL))


def forget_report(redis: Redis, account: str, kind: str, key: str) -> None:
    """Undo :func:`first_report` (its writes failed: the replay must count it)."""
    redis.delete(_report_key(account, kind, key))
