"""The live contract suite itself, pointed at the emulators: recorded, then replayed with
the emulators gone, so the suite that checks the real services cannot rot unseen, and
its recordings keep no secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sandbox.run import start_sandbox

SUITE = ["tests/contract/test_live_salesforce.py", "tests/contract/test_live_wechat.py"]
ROOT = Path(__file__).resolve().parents[2]


def run_suite(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SALESFORCE_", "WECHAT_", "LIVE_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "internet", *SUITE], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=240)


def test_the_live_suite_records_against_the_emulators_and_replays(tmp_path, redis_url):
    cassettes = tmp_path / "cassettes"
    box = start_sandbox(tmp_path / "box", followers=10, seed=5)
    try:
        env_file = tmp_path / "live.env"
        openid = box.wechat.population.openids()[0]
        env_file.write_text("".join(f"{k}={v}\n" for k, v in box.env.items())
                            + f"LIVE_WECHAT_OPENID={openid}\n")
        recorded = run_suite({"LIVE_ENV_FILE": str(env_file), "LIVE_RECORD": "1",
                              "LIVE_CASSETTES": str(cassettes), "REDIS_URL": redis_url})
    finally:
        box.stop()
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "7 passed" in recorded.stdout

    replayed = run_suite({"LIVE_CASSETTES": str(cassettes), "REDIS_URL": redis_url})
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "7 passed" in replayed.stdout

    secrets = [box.env["WECHAT_APP_SECRET"], box.env["WECHAT_APP_ID"],
               box.env["SALESFORCE_PRIVATE_KEY"][:40]]
    for path in cassettes.rglob("*.yaml"):
        text = path.read_text()
        assert not any(s in text for s in secrets), path
        assert not re.search(r"Bearer (?!SCRUBBED)\S{8,}|access_token=(?!SCRUBBED)\w{8,}",
                             text), path
