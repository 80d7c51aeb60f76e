"""The send job of a message request (:func:`connector.messaging.run.run_request`).

Enqueued on the ``messages`` queue (:func:`jobs.queues.enqueue_request`) when an admin
ticks "send now". Retriable failures retry with the common backoff (:mod:`jobs.retry`;
what was sent is recorded, and the request stays Sending meanwhile); when the retries are
spent, or the request cannot be sent as it is, the job fails and the request says why.
While the job waits (a retry, or a pause for Salesforce's daily limit) the request's
``waiting`` note in Redis says why and until when (:func:`~connector.messaging.sent_log.
note_waiting`), for the console; a run that ends clears it.
"""

from __future__ import annotations

import time
from typing import Any

from rq import Retry

from connector import logs
from connector.errors import BridgeError, FatalError, RetriableError
from connector.messaging.run import mark_failed, run_request
from connector.messaging.sent_log import clear_waiting, note_waiting
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
        return _waits(ctx.redis, message_id, waiting,
                      "Salesforce's daily API limit is reached; the bridge waits for it")
    try:
        summary = run_request(ctx, message_id).as_dict()
    except RetriableError as error:
        try:
            retry = retry_or_give_up(error, f"message request {message_id}")
        except FatalError as final:
            clear_waiting(ctx.redis, message_id)
            mark_failed(ctx, message_id, final)
            raise
        return _waits(ctx.redis, message_id, retry, _why(error))
    except BridgeError:  # not sendable as it is: the request's error field says why
        clear_waiting(ctx.redis, message_id)
        raise
    clear_waiting(ctx.redis, message_id)
    return summary


def _why(error: RetriableError) -> str:
    """The wait's reason in the words of the failure, with WeChat's errcode first."""
    code = error.code or ""
    if error.system == "wechat" and code.lstrip("-").isdigit():
        return f"WeChat errcode {code}: {error.message}"
    return error.message


def _waits(redis: Any, message_id: str, retry: Retry, why: str) -> Retry:
    """Note why the request waits and until when (its next try), and return ``retry``."""
    intervals = getattr(retry, "intervals", None) or [0]
    note_waiting(redis, message_id, why, time.time() + float(intervals[0]))
    return retry
