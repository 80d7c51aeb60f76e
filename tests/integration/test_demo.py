"""The README's first quick-start command, as a user runs it."""

import os
import re
import subprocess
import sys
from pathlib import Path

from connector.embedded_redis import alive

ROOT = Path(__file__).resolve().parents[2]


def test_demo_lands_every_record_and_exits_zero(redis_url):
    env = {**os.environ, "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "demo", "--followers", "24", "--seed", "11"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "demo OK" in result.stdout
    assert "EXPECTED" not in result.stdout
    assert "contacts matched" in result.stdout


def test_demo_on_the_defaults_tells_its_story_alone_and_leaves_nothing_running(tmp_path):
    """No REDIS_URL: the project's embedded Redis under ./var; the log lines go to a file
    the story names; a second run finds the same server's data and still lands every
    record; afterwards no server runs and no temporary folder is left."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "REDIS_TLS_URL", "CONNECTOR_STATE_DIR")}
    env.update(TMPDIR=str(temp), PYTHONPATH=str(ROOT))
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "connector.cli", "demo", "--followers", "12", "--seed", "5"],
            env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        out = result.stdout
        assert "Redis: embedded at var/redis/redis.sock" in out
        assert "log of the bridge's processes: var/demo/bridge.log" in out
        assert re.search(r"worker: all \d+ jobs done, after [\d.]+ s\n", out), out
        for log_line in (" INFO ", " WARNING ", " ERROR ", "{'", "Warm shut down"):
            assert log_line not in out + result.stderr
        for count, after in re.findall(r"(\d+) skipped(.?.?)", out):
            assert count == "0" or after == " (", out  # a skip is explained
    assert (tmp_path / "var" / "demo" / "bridge.log").stat().st_size > 0
    pid = int(out.split("(pid ", 1)[1].split(",", 1)[0])
    assert not alive(pid)
    assert not (tmp_path / "var" / "redis" / "redis.sock").exists()
    assert list(temp.iterdir()) == []
