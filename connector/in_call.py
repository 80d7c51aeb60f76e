"""Short retries within one gateway call, carried out by tenacity.

Each gateway decides *whether* a failed attempt is tried again (a pure function in its
``retrying.py``: Salesforce's session and HTTP rules, WeChat's token and errcode rules);
this module carries the decision out, the same way for both:

- :attr:`Step.REFRESH`: again at once, after the gateway renewed its credential (a new
  Salesforce login, a new WeChat access token): the attempt knows it was refused;
- :attr:`Step.RETRY`: again after a jittered wait ("full jitter": uniform between 0 and a
  cap that doubles per retry), from a :class:`random.Random` tests can pin;
- :attr:`Step.GIVE_UP`: the last attempt's error is raised.

Bounds (:class:`Pacing`): at most ``attempts`` attempts, and none starts later than
``budget`` seconds after the first (each attempt is bounded by the gateway's timeout).
Longer horizons are the job's: RQ's backoff (``jobs/retry.py``). Each retry is logged
once at WARNING with the bridge error (its code and message: never a token, a URL or a
request body).
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import tenacity

from connector.errors import BridgeError

T = TypeVar("T")
F = TypeVar("F")


class Step(enum.Enum):
    """What to do after a failed attempt."""

    REFRESH = "renew the credential and try again at once"
    RETRY = "try again after a short jittered wait"
    GIVE_UP = "raise the failure"


@dataclass
class Pacing:
    """How long in-call retries may take.

    Attributes:
        attempts: at most this many attempts per call (the first included).
        budget: seconds after the first attempt's start beyond which none starts.
        first_wait: the cap of the first jittered wait, in seconds; it doubles per retry.
        max_wait: the largest cap.
        rng: the jitter's randomness (pin it in tests).
        sleep: how to wait.
    """

    attempts: int = 4
    budget: float = 4.0
    first_wait: float = 0.25
    max_wait: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def wait(self, retry_number: int) -> float:
        """The jittered wait before retry ``retry_number`` (1 for the first)."""
        cap = min(self.max_wait, self.first_wait * 2 ** (retry_number - 1))
        return self.rng.uniform(0, cap)


class AttemptFailed(Exception, Generic[F]):
    """Raised by an attempt: the bridge ``error`` to raise if retrying stops, and the
    ``failure`` facts the gateway's decision reads."""

    def __init__(self, error: BridgeError, failure: F) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure


def run(attempt: Callable[[], T], *, decide: Callable[[F, int], Step], what: str,
        log: logging.Logger, pacing: Pacing) -> T:
    """``attempt()`` until it succeeds or ``decide(failure, refreshes_so_far)`` gives up.

    ``attempt`` raises :class:`AttemptFailed` for a failure; anything else it raises
    passes through untouched (a Redis outage, a bug). The attempt must raise it outside
    its own ``except`` blocks, so it chains no library exception (theirs hold responses,
    whose sockets stay open while the error lives).

    Raises:
        BridgeError: the last attempt's error, when retrying stops.
    """
    steps: list[Step] = []

    def should_retry(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, AttemptFailed):
            return False
        steps.append(decide(exc.failure, steps.count(Step.REFRESH)))
        return steps[-1] is not Step.GIVE_UP

    def wait(state: tenacity.RetryCallState) -> float:
        if steps[-1] is Step.REFRESH:
            return 0.0
        return pacing.wait(steps.count(Step.RETRY))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: attempt %d of %d failed (%s); %s in %.2f s", what,
                    state.attempt_number, pacing.attempts,
                    exc.error if isinstance(exc, AttemptFailed) else exc,
                    "renewing the credential, trying again" if steps[-1] is Step.REFRESH
                    else "trying again", state.upcoming_sleep)

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
    raise error  # outside the handler: it chains nothing
