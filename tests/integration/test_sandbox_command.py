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


def test_sandbox_query_prints_the_records_without_login_code(tmp_path, capsys, monkeypatch):
    from connector.cli.main import main
    from sandbox.run import start_sandbox

    box = start_sandbox(tmp_path, followers=10, seed=1)
    saved = dict(os.environ)
    try:
        box.salesforce.seed("Campaign", Name="Spring poster", IsActive=True)
        env_file = tmp_path / "sandbox.env"
        box.write_env(env_file)
        assert main(["sandbox", "query", "SELECT Id, Name, IsActive FROM Campaign",
                     "--env-file", str(env_file)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].split() == ["Id", "Name", "IsActive"]
        assert "Spring poster" in out[1] and out[-1] == "1 record"

        assert main(["sandbox", "query", "SELECT Nope FROM Campaign",
                     "--env-file", str(env_file)]) == 1
        err = capsys.readouterr().err
        assert "INVALID_FIELD" in err and "Traceback" not in err
    finally:
        os.environ.clear()
        os.environ.update(saved)
        box.stop()
