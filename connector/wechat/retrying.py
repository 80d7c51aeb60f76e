"""Which failed WeChat calls are tried again within the call (pure; tenacity carries the
decision out in :mod:`connector.in_call`).

- **A rejected access token** (40001 invalid, 40014 malformed, 42001 expired): once, at
  once, with a new token, for every call: WeChat refused the request before acting on it.
- **System busy** (errcode -1): a couple of times, after short jittered waits, for every
  call. WeChat's global return codes say of -1 "系统繁忙，此时请开发者稍候再试" (the system
  is busy, retry later:
  https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html),
  and its staff answer template sends failing with -1 the same way
  (https://developers.weixin.qq.com/community/develop/doc/000ca0754b8c687d802ef603956c00);
  the job's own retry resends such a message anyway, so retrying in the call adds no risk.
- **The request never left** (a connect timeout, a refused connection, or the token fetch
  before it failed transiently): every call.
- **Sent, and the answer lost** (a read timeout, a dropped or reset connection, under TLS
  too, an answer that is not JSON) **or an HTTP 5xx**: only calls safe to repeat (reads, remarks and
  tags, QR codes, and sends that carry WeChat's dedupe key: a template message with
  ``client_msg_id`` is sent once per (openid, client_msg_id) within 10 minutes, a mass
  message once per ``clientmsgid``). A customer-service message, or a template message
  without its key, may have been delivered: it is never sent again here.
- **Never**: quotas (45009, 45011, 429: their horizon is minutes or the day), a TLS
  refusal (a certificate not trusted), and every errcode that is not transient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests
from urllib3.exceptions import NewConnectionError

from connector.errors import BridgeError, RateLimitedError, RetriableError
from connector.in_call import Step
from connector.wechat.errors import TOKEN_ERRCODES, connection_cut

SYSTEM_BUSY = -1

Stage = Literal["unsent", "lost", "answered", "final"]


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as far as retrying cares.

    ``stage``: ``unsent`` (the request never reached WeChat), ``lost`` (sent, no usable
    answer), ``answered`` (an ``errcode``, or an HTTP error ``status`` without one), or
    ``final`` (retrying cannot help).
    """

    stage: Stage
    errcode: int | None = None
    status: int | None = None


def decide(failure: Failure, refreshes: int, *, repeatable: bool) -> Step:
    """Whether one failed attempt is tried again within the call, and how.

    Args:
        failure: what went wrong.
        refreshes: new tokens this call has taken already after a rejected one.
        repeatable: the call is safe to repeat after a lost answer (see the module).
    """
    if failure.stage == "unsent":
        return Step.RETRY
    if failure.stage == "lost":
        return Step.RETRY if repeatable else Step.GIVE_UP
    if failure.stage != "answered":
        return Step.GIVE_UP
    if failure.errcode in TOKEN_ERRCODES:
        return Step.REFRESH if refreshes == 0 else Step.GIVE_UP
    if failure.errcode == SYSTEM_BUSY:
        return Step.RETRY
    if failure.errcode is None and (failure.status or 0) >= 500 and repeatable:
        return Step.RETRY
    return Step.GIVE_UP


def request_failure(exc: requests.RequestException) -> Failure:
    """A requests exception (no answer) as a :class:`Failure`."""
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("lost" if connection_cut(exc) else "final")
    if isinstance(exc, requests.ConnectTimeout) or never_connected(exc):
        return Failure("unsent")
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return Failure("lost")
    return Failure("final")


def token_failure(error: BridgeError) -> Failure:
    """The access token could not be had before the call: the call never left. A
    transient failure is worth another attempt; a refused AppSecret or a quota is not."""
    transient = isinstance(error, RetriableError) and not isinstance(error, RateLimitedError)
    return Failure("unsent" if transient else "final")


def never_connected(exc: requests.RequestException) -> bool:
    """True when no connection was made, so nothing was sent (refused, unresolvable)."""
    # requests wraps urllib3's MaxRetryError, whose reason tells a failed connect
    # (NewConnectionError) from a connection lost after the request went out.
    cause = exc.args[0] if exc.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)
