"""The send job of a message request (:func:`connector.messaging.run.run_request`).

Enqueued on the ``messages`` queue (:func:`jobs.queues.enqueue_request`) when an admin
ticks "send now". Retriable failures retry with the common backoff (:mod:`jobs.retry`;
what was sent is recorded, and the request stays Sending meanwhile); when the retries are
spent, or the request cannot be sent as it is, the job fails and the request says why.
"""

from __future__ import annotations

from typing import Any

from rq import Retry

from connector import logs
from connector.errors import FatalError, RetriableError
from connector.messaging.run import mark_failed, run_request
from jobs.deaths import entry_point
from jobs.pausing import hold_while_paused
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context


@entry_point
def send_request(message_id: str) -> dict[str, Any] | Retry:
    """Send the request ``message_id``.

    Raises:
        FatalError: the request cannot be sent as it is (its error field says why), or a
            retriable failure outlasted the retries.
    """
    ctx = get_context()
    logs.set_context(records=message_id)
    waiting = hold_while_paused(ctx, f"message request {message_id}")  # daily API limit
    if waiting is not None:
        return waiting
    try:
        return run_request(ctx, message_id).as_dict()
    except RetriableError as error:
        try:
            return retry_or_give_up(error, f"message request {message_id}")
        except FatalError as final:
            mark_failed(ctx, message_id, final)
            raise
