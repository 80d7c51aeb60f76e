"""The reasons a run writes, read back in words (connector/messaging/outcomes.py): from
the real rules and WeChat's real errcode table, so a change to either that the reading
does not follow fails here."""

from __future__ import annotations

import time

import pytest

from connector.messaging.outcomes import OutcomeLine, RequestView, plain_reason, reason_groups
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


def view(message_id: str, skipped: int, failed: int = 0) -> RequestView:
    return RequestView(message_id, None, None, None, "mass", "campaign", None, None,
                       "Done", False, 0, 0, skipped, failed, None)


def test_one_big_request_does_not_starve_the_others_of_their_reasons():
    big, small = view("big", 9000), [view(f"s{i}", 15, 5) for i in range(49)]
    none = view("clean", 0)
    groups = reason_groups([big, none, *small], 2000)
    assert [len(g) for g in groups] == [49, 1]  # 980 rows in one query; the big alone
    assert groups[1] == [big] and none not in groups[0]
    many = [view(f"m{i}", 1500) for i in range(8)]
    assert len(reason_groups(many, 2000)) == 5  # at most five queries: the rest, counts
    assert reason_groups(many, None) == [many]  # the CLI: every row, one query


def test_the_reading_loads_neither_client_library_nor_the_worker_context():
    """The web process imports it: it must not pull in what the web app may not."""
    import subprocess
    import sys

    code = ("import sys, connector.messaging.outcomes; print(sorted(m for m in ("
            "'simple_salesforce', 'wechatpy', 'connector.context', 'connector.salesforce', "
            "'connector.wechat', 'rq') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
