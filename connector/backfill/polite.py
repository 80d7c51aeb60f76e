"""How the backfill keeps out of the way: live events first, quotas and the allocation.

- Live events first: before each batch, while events wait in the inbound queue, the
  backfill pauses (:attr:`Politeness.yield_seconds` at a time, at most
  :attr:`Politeness.yield_max` per batch, so a steady trickle slows it without stopping
  it).
- The Salesforce allocation: while ``ApiBudget.allows("backfill")`` says no (the org
  has used more of its daily requests than ``SALESFORCE_API_ALLOCATION``) or the daily
  limit is spent (the budget's pause, which the workers' probes end), it waits.
- WeChat's quotas and transient failures: a ``RateLimitedError`` (45009, the daily
  quota of ``user/get`` or ``batchget``; 45011, per minute) waits as long as WeChat's
  rule says and tries again, without end; other transient failures are tried again a
  few times with a growing wait.

Waits are shown in the state (``waiting`` with why) for ``connector backfill status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from connector.backfill.state import BackfillState
from connector.errors import RateLimitedError, RetriableError
from connector.salesforce.budget import ApiBudget

log = logging.getLogger(__name__)

T = TypeVar("T")


def _no_live_events() -> int:
    return 0


@dataclass
class Politeness:
    """The waits. ``live_waiting``: how many live events wait in the inbound queue (the
    command passes the queue's length; features do not reach RQ); ``sleep``: how to
    wait (tests pass one that records the waits)."""

    live_waiting: Callable[[], int] = _no_live_events
    sleep: Callable[[float], None] = field(default=time.sleep)
    yield_seconds: float = 1.0
    yield_max: float = 30.0
    budget_seconds: float = 60.0
    busy_seconds: float = 1.0
    busy_max: float = 150.0  # past a live batch's lease (120 s): a dead one's ends
    retries: int = 5
    # Batches written at once: each waits on Salesforce most of its time (+150 ms a
    # call on the benchmark's emulator), so four overlap without crowding live jobs
    # (the workers' own calls); 1 writes them one after another, in the calling thread.
    parallel: int = 4
    quota_default: float = 60.0  # when WeChat's rule gives no wait


def wait_for_turn(state: BackfillState, polite: Politeness, budget: ApiBudget) -> None:
    """Return when the next batch may go: no live events waiting (or a while spent
    waiting for them), and Salesforce calls allowed for background work."""
    waited, waiting = 0.0, False
    while waited < polite.yield_max and polite.live_waiting() > 0:
        if not waiting:
            state.set_status("waiting", "live events are waiting in the inbound queue")
            waiting = True
        polite.sleep(polite.yield_seconds)
        waited += polite.yield_seconds
    while True:
        pause = budget.paused()
        why = pause.why if pause is not None else None
        if why is None and not budget.allows("backfill"):
            usage = budget.usage()
            why = (f"the org has used {usage[0] if usage else 'most'} of its daily API "
                   f"requests, above the bridge's allocation for background work "
                   f"({budget.allocation:.0%}, SALESFORCE_API_ALLOCATION)")
        if why is None:
            break
        state.set_status("waiting", why)
        waiting = True
        log.info("backfill waits: %s", why)
        polite.sleep(polite.budget_seconds)
    if waiting:
        state.set_status("running")


def patiently(state: BackfillState, polite: Politeness, what: str,
              call: Callable[[], T]) -> T:
    """``call()``, waiting out quotas (without end) and transient failures (up to
    :attr:`Politeness.retries` times).

    Raises:
        RetriableError: still failing after the retries.
        FatalError: refused for good.
    """
    failures, waited = 0, False
    while True:
        try:
            result = call()
        except RateLimitedError as error:
            wait = error.retry_after or polite.quota_default
            state.set_status("waiting", f"{what}: {error} (waiting {wait:.0f} s)")
            log.warning("backfill waits %.0f s, %s: %s", wait, what, error)
            polite.sleep(wait)
            waited = True
            continue
        except RetriableError as error:
            failures += 1
            if failures > polite.retries:
                raise
            wait = min(60.0, 2.0 ** failures)
            log.warning("backfill tries again in %.0f s, %s: %s", wait, what, error)
            polite.sleep(wait)
            continue
        if waited:
            state.set_status("running")
        return result
