"""The reasons a run writes, read back in words (connector/messaging/outcomes.py): from
the real rules and WeChat's real errcode table, so a change to either that the reading
does not follow fails here."""

from __future__ import annotations

import time

import pytest

from connector.messaging.outcomes import OutcomeLine, plain_reason
from connector.messaging.rules import (
    Recipient,
    error_outcome,
    interrupted,
    quota_skips,
    screen,
    single_mass_skip,
)
from connector.wechat.errors import classify

NOW = time.time()


def refusal(errcode: int, errmsg: str) -> str:
    """The reason a run writes for WeChat refusing one recipient with ``errcode``."""
    return error_outcome(Recipient("o1"), classify(errcode, errmsg, now=NOW)).reason


@pytest.mark.parametrize(("errcode", "errmsg", "code", "words"), [
    (43004, "require subscribe rid: 6b1-2", "unfollowed", "no longer follows the account"),
    (43101, "user refuse to accept the msg rid: 1-2", "refused",
     "turned off the account's template messages"),
    (45015, "response out of time limit", "window closed",
     "had not written to the account in the last 48 hours"),
    (43019, "require remove blacklist", "wechat",
     "the user is on the account's blacklist (require remove blacklist)"),
    (61999, "brand new", "wechat", "unknown errcode 61999: brand new"),
])
def test_a_wechat_refusal_reads_as_its_errcode_and_what_it_means(errcode, errmsg, code,
                                                                  words):
    reason = plain_reason(refusal(errcode, errmsg))
    assert (reason.code, reason.errcode) == (code, str(errcode))
    assert reason.words.startswith(words)
    assert "WeChat said" not in reason.words and "rid" not in reason.words


def test_the_bridges_own_skips_read_in_words_without_an_errcode():
    fan, twin, nobody = Recipient("o1"), Recipient("o1"), Recipient(None)
    _, decided = screen([fan, twin, nobody], set())
    texts = [o.reason for o in decided]
    texts += [quota_skips([fan], ["o1"], "4 mass messages a month")[0].reason,
              single_mass_skip(fan).reason, interrupted(fan, "template").reason]
    read = [plain_reason(t) for t in texts]
    assert [r.code for r in read] == ["duplicate", "no follower", "quota", "too few",
                                      "interrupted"]
    assert all(r.errcode is None for r in read)
    assert read[0].words == "reached through another member already (sent once)"
    assert read[2].words.startswith("had used up the mass messages WeChat lets")


def test_a_job_finish_failure_and_nothing_read_as_themselves():
    reason = plain_reason("wechat: WeChat could not deliver it (user block)")
    assert (reason.code, reason.errcode, reason.words) == (
        "wechat", None, "WeChat could not deliver it (user block)")
    assert plain_reason(None).words == "no reason recorded"
    line = OutcomeLine("skipped", plain_reason(refusal(43004, "require subscribe")), 3)
    assert line.label == "unfollowed 43004 — no longer follows the account"
