"""In-call retries of Salesforce calls: a pure decision, and tenacity to carry it out.

A call is tried again *within the call* (a few seconds at most) only when that is safe and
likely to help; everything longer is the job's business (RQ's backoff, ``jobs/retry.py``).

- **A refused session** (401 INVALID_SESSION_ID): once, at once, after a new login, for
  every call: Salesforce refused the request before doing anything with it.
- **The request never left** (connect timeout, connection refused, or the login before
  it failed transiently): every call, creates included.
- **Sent, and the answer lost** (a read timeout, a dropped or reset connection, a body
  that is not JSON) **or a 5xx answer**: only calls that are safe to repeat, reads and
  writes keyed by Id or external id (updates, upserts). A create is not: Salesforce may
  have committed it before the answer was lost, and a repeat would create it twice.
- **Never**: rate limits (REQUEST_LIMIT_EXCEEDED, 429: their horizon is minutes, not
  seconds), TLS failures, and every answer that is not transient.

Waits are jittered ("full jitter": uniform between 0 and an exponentially growing cap),
from a :class:`random.Random` the tests can pin; no new attempt starts later than
:attr:`Pacing.budget` seconds after the first (each attempt is bounded by the session's
timeout). Each retry is logged once at WARNING with the error's code and message, never
the request (SOQL may hold personal data) or the session.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import requests
import tenacity
from urllib3.exceptions import NewConnectionError

from connector.errors import BridgeError, RateLimitedError, RetriableError
from connector.salesforce.errors import INVALID_SESSION_ID, error_entries

log = logging.getLogger("connector.salesforce")

T = TypeVar("T")

Stage = Literal["unsent", "lost", "answered", "final"]


class Step(enum.Enum):
    """What to do after a failed attempt."""

    RELOGIN = "log in again and retry at once"
    RETRY = "retry after a short jittered wait"
    GIVE_UP = "raise the failure"


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


def decide(failure: Failure, *, repeatable: bool, relogins: int) -> Step:
    """Whether one failed attempt is tried again within the call, and how.

    Args:
        failure: what went wrong.
        repeatable: the call is safe to repeat (a read, an update by Id, an upsert by
            external id); False for creates.
        relogins: new logins this call has already made after a refused session.
    """
    if failure.stage == "unsent":
        return Step.RETRY
    if failure.stage == "lost":
        return Step.RETRY if repeatable else Step.GIVE_UP
    if failure.stage != "answered":
        return Step.GIVE_UP
    if failure.status == 401 and failure.code == INVALID_SESSION_ID:
        return Step.RELOGIN if relogins == 0 else Step.GIVE_UP
    if failure.status is not None and failure.status >= 500 and repeatable:
        return Step.RETRY
    return Step.GIVE_UP


def request_failure(exc: requests.RequestException) -> Failure:
    """A requests exception (no usable answer) as a :class:`Failure`."""
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("final")
    if isinstance(exc, requests.ConnectTimeout) or _refused(exc):
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
    """A failed login before the call: the call itself never left. Transient login
    failures are worth another attempt; refused credentials and rate limits are not."""
    transient = isinstance(error, RetriableError) and not isinstance(error, RateLimitedError)
    return Failure("unsent" if transient else "final", error.status, error.code)


def _refused(exc: requests.RequestException) -> bool:
    # requests wraps urllib3's MaxRetryError, whose reason says whether a connection was
    # ever made: NewConnectionError (refused, unresolvable) means nothing was sent.
    cause = exc.args[0] if exc.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)


@dataclass
class Pacing:
    """How long in-call retries may take.

    Attributes:
        attempts: at most this many attempts per call (the first included).
        budget: seconds after the first attempt's start beyond which none starts.
        first_wait: the cap of the first jittered wait, in seconds; it doubles per retry.
        max_wait: the largest cap.
        rng: the jitter's randomness (pin it in tests).
        sleep: how to wait (``time.sleep``).
    """

    attempts: int = 3
    budget: float = 4.0
    first_wait: float = 0.25
    max_wait: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def wait(self, retry_number: int) -> float:
        """The jittered wait before retry ``retry_number`` (1 for the first retry)."""
        cap = min(self.max_wait, self.first_wait * 2 ** (retry_number - 1))
        return self.rng.uniform(0, cap)


class AttemptFailed(Exception):
    """Raised inside an attempt: the bridge's ``error`` and the ``failure`` facts."""

    def __init__(self, error: BridgeError, failure: Failure) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure


def run(attempt: Callable[[], T], *, what: str, repeatable: bool, pacing: Pacing) -> T:
    """``attempt()`` until it succeeds or :func:`decide` gives up.

    ``attempt`` raises :class:`AttemptFailed` for a failure (anything else passes through
    untouched); after a :attr:`Step.RELOGIN` decision the next attempt must log in anew
    (the gateway's attempt knows from the session it was refused).

    Raises:
        BridgeError: the last attempt's error, when retrying stops.
    """
    steps: list[Step] = []

    def should_retry(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, AttemptFailed):
            return False
        relogins = steps.count(Step.RELOGIN)
        steps.append(decide(exc.failure, repeatable=repeatable, relogins=relogins))
        return steps[-1] is not Step.GIVE_UP

    def wait(state: tenacity.RetryCallState) -> float:
        if steps[-1] is Step.RELOGIN:
            return 0.0
        return pacing.wait(sum(step is Step.RETRY for step in steps))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        error = exc.error if isinstance(exc, AttemptFailed) else exc
        log.warning("salesforce %s: attempt %d failed (%s); %s in %.2f s", what,
                    state.attempt_number, error,
                    "logging in again" if steps[-1] is Step.RELOGIN else "retrying",
                    state.upcoming_sleep)

    retrying = tenacity.Retrying(
        retry=should_retry, wait=wait, before_sleep=before_sleep, sleep=pacing.sleep,
        stop=tenacity.stop_after_attempt(pacing.attempts)
        | tenacity.stop_before_delay(pacing.budget),
        reraise=True)
    error: BridgeError | None = None
    try:
        return retrying(attempt)
    except AttemptFailed as exc:
        error = exc.error
    # Raised outside the handler, so it chains nothing (the attempt raises AttemptFailed
    # outside its own handlers for the same reason: a library's exception holds the
    # response, whose socket stays open while the error lives).
    raise error
