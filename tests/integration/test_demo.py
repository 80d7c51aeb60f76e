"""The README's first quick-start command, as a user runs it."""

import os
import subprocess
import sys


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
