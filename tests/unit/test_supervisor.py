"""``connector run``'s supervisor: a child that dies is restarted, after a delay that
doubles while it keeps dying young, and the log says how it died. Real child processes;
the supervisor's clock is given, so no test waits for a delay."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import pytest

from connector.cli.supervisor import HEALTHY_SECONDS, Supervisor, describe_exit


def starter(code: str, started: list[subprocess.Popen]):
    def start() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", code])
        started.append(process)
        return process
    return start


def test_a_dead_child_is_restarted_with_a_doubling_delay(caplog):
    started: list[subprocess.Popen] = []
    supervisor = Supervisor({"worker": starter("raise SystemExit(3)", started)})
    [child] = supervisor.children
    caplog.set_level(logging.INFO, "connector.cli.supervisor")

    child.launch()
    started[-1].wait()
    t = child.started + 1
    supervisor.check(now=t)  # noticed: restart in 1 s
    assert (f"worker (pid {started[0].pid}) exited with status 3; restarting it in 1 s"
            in caplog.text)
    supervisor.check(now=t + 0.5)
    assert len(started) == 1  # not yet
    supervisor.check(now=t + 1)
    assert len(started) == 2 and child.restarts == 1

    started[-1].wait()
    supervisor.check(now=t + 2)  # died young again: 2 s this time
    assert "restarting it in 2 s" in caplog.text
    supervisor.check(now=t + 3.9)
    assert len(started) == 2
    supervisor.check(now=t + 4)
    assert len(started) == 3

    # one that ran for a minute before it died was healthy: 1 s again
    started[-1].wait()
    supervisor.check(now=child.started + HEALTHY_SECONDS + 1)
    assert caplog.text.rstrip().endswith("restarting it in 1 s")
    supervisor.check(now=child.started + HEALTHY_SECONDS + 2)
    assert len(started) == 4


def test_a_running_child_is_left_alone_and_all_stop_together():
    started: list[subprocess.Popen] = []
    code = "import time\nwhile True: time.sleep(0.1)"
    supervisor = Supervisor({"web": starter(code, started), "clock": starter(code, started)},
                            grace=5)
    for child in supervisor.children:
        child.launch()
    supervisor.check()
    assert len(started) == 2 and all(p.poll() is None for p in started)
    supervisor.stop_all()
    assert [p.returncode for p in started] == [-signal.SIGTERM] * 2


@pytest.mark.parametrize(("code", "text"), [
    (0, "exited with status 0"),
    (1, "exited with status 1"),
    (-9, "killed by SIGKILL"),
    (-15, "killed by SIGTERM"),
])
def test_exit_statuses_read_as_an_operator_reads_them(code, text):
    assert describe_exit(code) == text
