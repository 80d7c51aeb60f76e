"""The in-call retry decisions of both gateways (pure) and the tenacity machinery that
carries them out (connector/in_call.py), with the jitter and the waits pinned."""

from __future__ import annotations

import logging
import random
import ssl

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError

from connector.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
)
from connector.in_call import AttemptFailed, Pacing, Step, run
from connector.salesforce import retrying as sf
from connector.wechat import retrying as wx
from connector.wechat.errors import transport_error

SESSION = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
UNAVAILABLE = [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server unavailable"}]
LIMIT = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
LOCKED = [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}]
REQUIRED = [{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing"}]


def wrapped(reason: Exception, cls: type[requests.RequestException]) -> Exception:
    """A requests exception as requests raises it: around urllib3's MaxRetryError."""
    return cls(MaxRetryError(None, "/x", reason))


REFUSED = wrapped(NewConnectionError(None, "Connection refused"), requests.ConnectionError)
RESET = wrapped(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
                requests.ConnectionError)
TLS_EOF = wrapped(Urllib3SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
                  requests.exceptions.SSLError)
TLS_REFUSED = wrapped(Urllib3SSLError(ssl.SSLCertVerificationError(1, "certificate verify "
                                                                      "failed")),
                      requests.exceptions.SSLError)


# -- Salesforce ---------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "relogins", "repeatable", "step"), [
    (sf.answer_failure(401, SESSION), 0, False, Step.REFRESH),  # even a create
    (sf.answer_failure(401, SESSION), 1, True, Step.GIVE_UP),  # refused twice
    (sf.request_failure(requests.ConnectTimeout()), 0, False, Step.RETRY),  # never left
    (sf.request_failure(REFUSED), 0, False, Step.RETRY),
    (sf.login_failure(RetriableError("503", status=503)), 0, False, Step.RETRY),
    (sf.login_failure(ConfigurationError("invalid_grant")), 0, True, Step.GIVE_UP),
    (sf.login_failure(RateLimitedError("429", status=429)), 0, True, Step.GIVE_UP),
    (sf.request_failure(requests.ReadTimeout()), 0, True, Step.RETRY),  # a read
    (sf.request_failure(requests.ReadTimeout()), 0, False, Step.GIVE_UP),  # a create
    (sf.request_failure(RESET), 0, True, Step.RETRY),
    (sf.request_failure(RESET), 0, False, Step.GIVE_UP),
    (sf.request_failure(TLS_EOF), 0, True, Step.RETRY),
    (sf.request_failure(TLS_REFUSED), 0, True, Step.GIVE_UP),
    (sf.request_failure(requests.exceptions.ChunkedEncodingError()), 0, True, Step.RETRY),
    (sf.request_failure(requests.exceptions.InvalidURL()), 0, True, Step.GIVE_UP),
    (sf.answer_failure(503, UNAVAILABLE), 0, True, Step.RETRY),
    (sf.answer_failure(503, UNAVAILABLE), 0, False, Step.GIVE_UP),
    (sf.answer_failure(400, LOCKED), 0, True, Step.RETRY),
    (sf.answer_failure(400, LOCKED), 0, False, Step.GIVE_UP),
    (sf.answer_failure(403, LIMIT), 0, True, Step.GIVE_UP),
    (sf.answer_failure(429, None), 0, True, Step.GIVE_UP),
    (sf.answer_failure(400, REQUIRED), 0, True, Step.GIVE_UP),
])
def test_salesforce_decision(failure, relogins, repeatable, step):
    assert sf.decide(failure, relogins, repeatable=repeatable) is step


# -- WeChat ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "refreshes", "repeatable", "step"), [
    (wx.Failure("answered", errcode=42001), 0, False, Step.REFRESH),  # even a send
    (wx.Failure("answered", errcode=40001), 0, True, Step.REFRESH),
    (wx.Failure("answered", errcode=40014), 1, True, Step.GIVE_UP),  # rejected twice
    (wx.Failure("answered", errcode=-1), 0, False, Step.RETRY),  # busy: nothing taken
    (wx.Failure("answered", errcode=-1), 1, True, Step.RETRY),
    (wx.Failure("answered", errcode=45009), 0, True, Step.GIVE_UP),  # the daily quota
    (wx.Failure("answered", errcode=45011), 0, True, Step.GIVE_UP),
    (wx.Failure("answered", errcode=40003), 0, True, Step.GIVE_UP),
    (wx.Failure("answered", status=503), 0, True, Step.RETRY),
    (wx.Failure("answered", status=503), 0, False, Step.GIVE_UP),  # a send may be out
    (wx.Failure("answered", status=429), 0, True, Step.GIVE_UP),
    (wx.request_failure(requests.ConnectTimeout()), 0, False, Step.RETRY),
    (wx.request_failure(REFUSED), 0, False, Step.RETRY),
    (wx.request_failure(requests.ReadTimeout()), 0, True, Step.RETRY),
    (wx.request_failure(requests.ReadTimeout()), 0, False, Step.GIVE_UP),  # never resent
    (wx.request_failure(RESET), 0, False, Step.GIVE_UP),
    (wx.request_failure(TLS_EOF), 0, True, Step.RETRY),
    (wx.request_failure(TLS_REFUSED), 0, True, Step.GIVE_UP),
    (wx.token_failure(RetriableError("timeout")), 0, False, Step.RETRY),
    (wx.token_failure(ConfigurationError("40125")), 0, True, Step.GIVE_UP),
    (wx.token_failure(RateLimitedError("45009")), 0, True, Step.GIVE_UP),
])
def test_wechat_decision(failure, refreshes, repeatable, step):
    assert wx.decide(failure, refreshes, repeatable=repeatable) is step


def test_a_connection_cut_under_tls_is_a_network_error_not_a_tls_refusal():
    assert transport_error(TLS_EOF).code == "NETWORK"
    assert isinstance(transport_error(TLS_REFUSED), FatalError)


# -- the machinery --------------------------------------------------------------------------

class Script:
    """An attempt that fails with the scripted messages, then answers."""

    def __init__(self, *failures: str) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise AttemptFailed(RetriableError(self.failures.pop(0), code="X"), "facts")
        return "answer"


def pacing(**overrides) -> tuple[Pacing, list[float]]:
    waits: list[float] = []
    return Pacing(rng=random.Random(3), sleep=waits.append, **overrides), waits


def always(step: Step):
    return lambda failure, refreshes: step


def test_transient_failures_are_retried_with_jittered_waits_within_their_caps():
    paced, waits = pacing()
    attempt = Script("busy", "busy")
    assert run(attempt, decide=always(Step.RETRY), what="t", log=logging.getLogger("t"),
               pacing=paced) == "answer"
    assert attempt.calls == 3
    assert len(waits) == 2 and 0 <= waits[0] <= 0.25 and 0 <= waits[1] <= 0.5
    again, again_waits = pacing()
    run(Script("busy", "busy"), decide=always(Step.RETRY), what="t",
        log=logging.getLogger("t"), pacing=again)
    assert again_waits == waits  # the same seed, the same waits
    assert all(Pacing(rng=random.Random(n)).wait(9) <= 1.0 for n in range(50))  # max_wait


def test_a_refresh_is_immediate():
    paced, waits = pacing()
    assert run(Script("expired"), decide=always(Step.REFRESH), what="t",
               log=logging.getLogger("t"), pacing=paced) == "answer"
    assert waits == [0.0]


def test_gives_up_with_the_last_error_after_the_attempts():
    paced, waits = pacing(attempts=3)
    attempt = Script("a", "b", "c", "d")
    with pytest.raises(RetriableError) as caught:
        run(attempt, decide=always(Step.RETRY), what="t", log=logging.getLogger("t"),
            pacing=paced)
    assert caught.value.message == "c" and attempt.calls == 3
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_no_attempt_starts_after_the_budget():
    paced, waits = pacing(budget=0.0)
    attempt = Script("a", "b")
    with pytest.raises(RetriableError):
        run(attempt, decide=always(Step.RETRY), what="t", log=logging.getLogger("t"),
            pacing=paced)
    assert attempt.calls == 1 and waits == []


def test_a_give_up_decision_raises_at_once():
    paced, waits = pacing()
    attempt = Script("fatal")
    with pytest.raises(RetriableError):
        run(attempt, decide=always(Step.GIVE_UP), what="t", log=logging.getLogger("t"),
            pacing=paced)
    assert attempt.calls == 1


def test_other_exceptions_pass_through_untried():
    paced, _ = pacing()
    calls = []

    def attempt():
        calls.append(1)
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run(attempt, decide=always(Step.RETRY), what="t", log=logging.getLogger("t"),
            pacing=paced)
    assert len(calls) == 1


def test_each_retry_is_logged_once_at_warning(caplog):
    paced, _ = pacing()
    with caplog.at_level(logging.DEBUG, logger="t"):
        run(Script("busy", "busy"), decide=always(Step.RETRY), what="wechat wx1",
            log=logging.getLogger("t"), pacing=paced)
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2
    assert caplog.records[0].getMessage().startswith("wechat wx1: attempt 1 of 4 failed")
