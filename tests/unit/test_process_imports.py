"""What each process loads, and what must agree across the layers."""

from __future__ import annotations

import subprocess
import sys

from connector.messaging.run import LOCK_SECONDS
from jobs.queues import MESSAGE_TIMEOUT


def loaded(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``statement``."""
    probe = (f"import sys; {statement}; "
             f"print(','.join(m for m in {modules!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    return [m for m in out.split(",") if m]


def test_the_web_process_does_not_load_the_salesforce_client():
    """The callback path enqueues only; the Salesforce client (with zeep) costs each web
    process about 10 MB and a second, for one login it rarely needs."""
    assert loaded("import webhooks.app", ("simple_salesforce", "zeep", "jobs.runtime")) == []


def test_the_command_line_starts_without_the_bridge_behind_it():
    """``connector --help`` answers at once: a command imports what it needs when it
    runs (the client libraries and the web framework take seconds to load)."""
    assert loaded("import connector.cli", ("simple_salesforce", "wechatpy", "fastapi",
                                           "jobs.runtime", "sandbox")) == []


def test_a_message_request_s_lock_outlives_its_send_job():
    assert LOCK_SECONDS > MESSAGE_TIMEOUT
