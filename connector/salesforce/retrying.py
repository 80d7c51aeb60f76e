"""Which failed Salesforce calls are tried again within the call (pure; tenacity carries
the decision out in :mod:`connector.in_call`).

- **A refused session** (401 INVALID_SESSION_ID): once, at once, after a new login, for
  every call: Salesforce refused the request before doing anything with it.
- **The request never left** (a connect timeout, a refused connection, or the login before
  it failed transiently): every call, creates included.
- **Sent, and the answer lost** (a read timeout, a dropped or reset connection, under TLS
  too, an answer cut off or not JSON) **or a 5xx or UNABLE_TO_LOCK_ROW answer**: only
  calls safe to repeat, reads and writes keyed by Id or external id (updates, upserts).
  Never a create: Salesforce may have committed it before the answer was lost, and a
  repeat would create it twice.
- **Never**: rate limits (REQUEST_LIMIT_EXCEEDED, 429: their horizon is minutes, the
  job's backoff honours it), a certificate TLS refuses, and every answer that is not
  transient.

Connection resets on Salesforce's side are real and intermittent ("Connection aborted",
ECONNRESET / RemoteDisconnected: simple-salesforce issues 411 and 449), and a repeat of
the same request usually succeeds.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

import requests
from urllib3.exceptions import NewConnectionError

from connector.errors import BridgeError, RateLimitedError, RetriableError
from connector.in_call import Step
from connector.salesforce.errors import INVALID_SESSION_ID, error_entries

Stage = Literal["unsent", "lost", "answered", "final"]

# Another transaction held the rows. Salesforce's StatusCode reference: "A deadlock or
# timeout condition has been detected ... The timeout state is temporary. No corrective
# action is needed" (quoted at https://pharos.ai/blog/13-sfdc-error-1). A transaction
# waits up to 10 s for a lock first, so the budget usually leaves the retry to the job.
BRIEF_CONTENTION = frozenset({"UNABLE_TO_LOCK_ROW"})


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as far as retrying cares.

    ``stage``: ``unsent`` (the request never reached Salesforce), ``lost`` (sent, no usable
    answer), ``answered`` (an error answer: ``status`` and Salesforce's error ``code``), or
    ``final`` (retrying cannot help: TLS, a malformed request, a refused login).
    """

    stage: Stage
    status: int | None = None
    code: str | None = None


def decide(failure: Failure, relogins: int, *, repeatable: bool) -> Step:
    """Whether one failed attempt is tried again within the call, and how.

    Args:
        failure: what went wrong.
        relogins: new logins this call has made already after a refused session.
        repeatable: the call is safe to repeat (a read, an update by Id, an upsert by
            external id); False for creates.
    """
    if failure.stage == "unsent":
        return Step.RETRY
    if failure.stage == "lost":
        return Step.RETRY if repeatable else Step.GIVE_UP
    if failure.stage != "answered":
        return Step.GIVE_UP
    if failure.status == 401 and failure.code == INVALID_SESSION_ID:
        return Step.REFRESH if relogins == 0 else Step.GIVE_UP
    if repeatable and ((failure.status or 0) >= 500 or failure.code in BRIEF_CONTENTION):
        return Step.RETRY
    return Step.GIVE_UP


def request_failure(exc: requests.RequestException) -> Failure:
    """A requests exception (no usable answer) as a :class:`Failure`."""
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("lost" if connection_cut(exc) else "final")
    if isinstance(exc, requests.ConnectTimeout) or never_connected(exc):
        return Failure("unsent")
    if isinstance(exc, (requests.Timeout, requests.ConnectionError,
                        requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.InvalidJSONError)):
        return Failure("lost")
    return Failure("final")


def answer_failure(status: int | None, body: object) -> Failure:
    """An error answer (its HTTP status and decoded body) as a :class:`Failure`."""
    entries = error_entries(body)
    return Failure("answered", status, entries[0].code if entries else None)


def login_failure(error: BridgeError) -> Failure:
    """A failed login before the call: the call itself never left. A transient login
    failure is worth another attempt; refused credentials and rate limits are not."""
    transient = isinstance(error, RetriableError) and not isinstance(error, RateLimitedError)
    return Failure("unsent" if transient else "final", error.status, error.code)


def never_connected(exc: requests.RequestException) -> bool:
    """True when no connection was made, so nothing was sent (refused, unresolvable)."""
    # requests wraps urllib3's MaxRetryError, whose reason tells a failed connect
    # (NewConnectionError) from a connection lost after the request went out.
    cause = exc.args[0] if exc.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)


def connection_cut(exc: requests.RequestException) -> bool:
    """True for an SSLError that is the connection ending under TLS (an EOF or a reset
    in the middle of the exchange), not a certificate or protocol refusal."""
    # requests.SSLError wraps urllib3's MaxRetryError, whose reason (urllib3's SSLError)
    # holds the ssl module's own exception.
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    inner = reason.args[0] if reason is not None and reason.args else None
    return isinstance(inner, (ssl.SSLEOFError, ConnectionResetError))
