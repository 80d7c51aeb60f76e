"""`make sandbox` / `connector sandbox`: the env file agrees with the callback URL the
sandbox delivers its people's acts to."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_env_file_holds_the_port_of_the_callback_url(tmp_path):
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "--env-file", str(env_file),
         "--callback-url", "http://127.0.0.1:8123/wechat/callback"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CONNECTOR_STATE_DIR": str(tmp_path / "var")})
    try:
        for line in process.stdout:
            if line.startswith("serving until killed"):
                break
        lines = env_file.read_text().splitlines()
        assert "PORT=8123" in lines
        assert sum(line.startswith("PORT=") for line in lines) == 1
        assert list((tmp_path / "var" / "sandbox").iterdir())  # its files: no temp folder
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_make_sandbox_passes_a_callback_url_agreeing_with_connector_runs_port():
    makefile = (ROOT / "Makefile").read_text()
    default = re.search(r"^SANDBOX_ARGS \?= (.+)$", makefile, re.M)
    assert default and "--callback-url http://127.0.0.1:8000/wechat/callback" in default[1]
    assert "$(SANDBOX_ARGS)" in makefile[makefile.index("\nsandbox:"):]
