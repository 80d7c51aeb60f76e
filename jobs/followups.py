"""The send job of a follow-up (:func:`connector.followups.send.run_follow_up`).

Scheduled on the ``messages`` queue for the follow-up's due time
(:func:`jobs.queues.enqueue_follow_up`, by the inbound worker through ``ctx.queues``).
Retriable failures retry with the common backoff (:mod:`jobs.retry`): the follow-up stays
pending (or, once sent, waits to be recorded), so a retry sends nothing twice. A run
whose process died is retried too (``jobs/deaths.py``); a send it left half-done is marked
failed, never sent again.
"""

from __future__ import annotations

from typing import Any

from rq import Retry

from connector.errors import RetriableError
from connector.followups.send import run_follow_up
from jobs.deaths import entry_point
from jobs.pausing import hold_while_paused
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context


@entry_point
def send_follow_up(follow_up_id: str) -> dict[str, Any] | Retry:
    """Send the follow-up ``follow_up_id`` if it is still due.

    Raises:
        FatalError: a retriable failure outlasted the retries, or a refusal (the
            follow-up's state says what was sent).
    """
    ctx = get_context()
    waiting = hold_while_paused(ctx, f"follow-up {follow_up_id}")  # daily API limit
    if waiting is not None:
        return waiting
    try:
        return run_follow_up(ctx, follow_up_id)
    except RetriableError as error:
        return retry_or_give_up(error, f"follow-up {follow_up_id}")
