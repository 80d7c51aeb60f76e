"""The project's one embedded Redis (connector/embedded_redis.py): shared by every
command, started once under a race, kept across restarts, shut down by the last user.

These tests start their own embedded servers in a temporary state folder, whatever
REDIS_URL says (they unset it for the processes they run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from rq.job import Job

from connector import embedded_redis
from connector.cli.main import main
from connector.embedded_redis import alive
from connector.events import InboundEvent
from jobs.queues import enqueue_inbound, inbound_queue

USER = textwrap.dedent("""
    import sys
    from connector.embedded_redis import ensure_running, place, running_pid
    from connector.redis_connection import connect
    url = ensure_running()
    client = connect(url)
    if len(sys.argv) > 1:
        client.set("kept", sys.argv[1])
    print(running_pid(place()), (client.get("kept") or b"").decode(), flush=True)
    sys.stdin.read()  # hold the server until the test closes stdin
""")


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_TLS_URL", raising=False)
    yield tmp_path
    embedded_redis.release()
    embedded_redis.shutdown()


def _user(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_TLS_URL")}
    return subprocess.Popen([sys.executable, "-c", USER, *args], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_commands_started_at_once_share_one_server_the_last_out_stops_it_data_kept(state):
    first, second = _user("hello"), _user()
    first_pid, _ = first.stdout.readline().split(" ", 1)
    second_pid, _ = second.stdout.readline().split(" ", 1)
    assert first_pid == second_pid  # one server, both use it
    pid = int(first_pid)

    first.communicate("")  # the first user exits: the other still uses it
    assert alive(pid)
    second.communicate("")  # the last user exits: the server is shut down
    assert not alive(pid)
    assert not list(state.glob("redis/*.sock"))

    again = _user()
    new_pid, kept = again.stdout.readline().split()
    again.communicate("")
    assert new_pid != first_pid and kept == "hello"  # a new server, the data kept


def test_a_failed_event_survives_a_restart_and_replay_all_finds_it(state, capsys):
    redis = embedded_redis.ensure_running()
    from connector.redis_connection import connect

    conn = connect(redis)
    event = InboundEvent(account="gh_test", openid="o-1", create_time=1, msg_type="event",
                         event="subscribe")
    assert enqueue_inbound(conn, event)
    queue = inbound_queue(conn)
    job = Job.fetch(event.dedupe_key, connection=conn)
    queue.remove(job)
    queue.failed_job_registry.add(job, exc_string="REQUIRED_FIELD_MISSING: Phone")
    conn.close()
    embedded_redis.release()  # everything stops: the last user shuts the server down
    assert not embedded_redis.place().socket.exists()

    # a fresh `connector replay --all` on the defaults finds the failure and requeues it
    os.environ.pop("REDIS_URL", None)
    assert main(["replay", "--all"]) == 0
    assert "requeued 1 failed jobs" in capsys.readouterr().out
    conn = connect(os.environ["REDIS_URL"])
    assert inbound_queue(conn).job_ids == [event.dedupe_key]
    os.environ.pop("REDIS_URL", None)


def test_stop_refuses_while_used_then_shuts_down_cleanly(state, capsys):
    embedded_redis.ensure_running()
    user = _user()
    pid = int(user.stdout.readline().split()[0])
    embedded_redis.release()  # this process lets go; the other user still holds it
    assert main(["stop"]) == 1
    assert "still used" in capsys.readouterr().err
    user.communicate("")
    assert not alive(pid)
    assert main(["stop"]) == 0
    assert "was not running" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["status"], ["replay", "--all"]])
def test_a_closed_redis_url_is_one_line_naming_it(argv, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "REDIS_URL=redis://:***@127.0.0.1:1/0" in err
    assert "secret" not in err and "Traceback" not in err


def test_replay_needs_something_to_replay_and_names_an_unknown_job(capsys, redis_conn):
    with pytest.raises(SystemExit) as exit_:
        main(["replay"])
    assert exit_.value.code == 2
    assert main(["replay", "no-such-job"]) == 1
    assert "no failed job no-such-job" in capsys.readouterr().err


def test_run_with_a_closed_redis_url_is_one_line_and_starts_nothing(bridge, monkeypatch,
                                                                   capsys):
    from connector.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        assert main(["run"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Redis at REDIS_URL=" in err


def test_run_names_the_redis_it_shares_with_the_other_commands(bridge, state, monkeypatch):
    """`connector run` says which Redis it uses (a newcomer's `connector status` in another
    terminal must find the same one), then stops it as the last user on Ctrl-C."""
    import signal
    import socket
    import threading
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_TLS_URL")}
    run = subprocess.Popen([sys.executable, "-m", "connector.cli", "run"],
                           env={**env, "PORT": str(port)}, text=True, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(run.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        # the worker's "Listening on" comes after start-up: by then the line was said
        while time.monotonic() < deadline and not any("Listening on" in x for x in lines):
            time.sleep(0.2)
        said = [line for line in lines if "Redis: embedded at" in line]
        assert said, "".join(lines)
        assert str(state / "redis" / "redis.sock") in said[0]
        assert "started by connector run" in said[0]
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
        reader.join(timeout=10)
    assert run.returncode == 0
    pid = embedded_redis.running_pid(embedded_redis.place())
    assert pid is None or not alive(pid)  # the last user out stopped it


TWO_FOLDERS = textwrap.dedent("""
    import os, sys
    from connector import embedded_redis
    first, second = sys.argv[1:3]
    os.environ["CONNECTOR_STATE_DIR"] = first
    embedded_redis.ensure_running()
    os.environ["CONNECTOR_STATE_DIR"] = second
    embedded_redis.ensure_running()
    embedded_redis.release()  # the second folder's: its server stops at once
    print(embedded_redis.running_pid(embedded_redis.Place(__import__("pathlib").Path(first)
                                                          / "redis")), flush=True)
""")


def test_a_process_that_used_two_state_folders_stops_both_servers(state, tmp_path_factory):
    """The test session's case: its own state folder, then a test's; releasing the second
    must not forget the first, whose server would be left running (parent PID 1)."""
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_TLS_URL")}
    done = subprocess.run([sys.executable, "-c", TWO_FOLDERS, str(first), str(second)],
                          env=env, text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first_pid = int(done.stdout.split()[0])
    assert not (second / "redis" / "redis.sock").exists()
    assert not alive(first_pid)  # stopped at exit, not orphaned
