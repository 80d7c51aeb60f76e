"""``connector mappings validate``, run as an admin would, against the running sandbox org."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.run import start_sandbox

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "mappings" / "default.yaml"
# A field of the wrong case and a lookup to the wrong object: both only the org can tell.
BROKEN = (DEFAULT.read_text()
          .replace("Contact: Contact__c", "Contact: Lead__c", 1)
          .replace("    Company:", "    company:", 1))


def validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # Only what a shell would pass: no inherited Salesforce or WeChat settings.
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SALESFORCE_", "WECHAT_", "MAPPING_"))}
    return subprocess.run([sys.executable, "-m", "connector.cli", "mappings", "validate",
                           *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


@pytest.fixture(scope="module")
def org_env(tmp_path_factory):
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), followers=1)
    yield dict(box.env)  # includes REQUESTS_CA_BUNDLE for the sandbox's own CA
    box.stop()


def test_broken_mapping_lists_each_problem_with_its_line(org_env, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = validate(str(path), "--against-org", env=org_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}:{line_of(BROKEN, 'Lead__c')}:" in result.stdout
    assert "is a lookup to Lead, not a lookup to Contact" in result.stdout
    assert f"{path}:{line_of(BROKEN, 'company:')}:" in result.stdout
    assert "did you mean 'Company'?" in result.stdout
    assert "Traceback" not in result.stderr


def test_default_mapping_passes_against_the_org(org_env):
    result = validate(str(DEFAULT), "--against-org", env=org_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": error:" not in result.stdout


def test_offline_invalid_mapping_exits_1_with_the_line(tmp_path):
    path = tmp_path / "typo.yaml"
    text = DEFAULT.read_text().replace("source: follower.unionid", "source: follower.unoinid", 1)
    path.write_text(text)
    result = validate(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    line = line_of(text, "follower.unoinid")
    assert f"{path}:{line}:" in result.stdout
    assert "error: follower.fields.UnionId__c.source: unknown source" in result.stdout


def test_against_org_without_settings_is_a_configuration_problem():
    result = validate(str(DEFAULT), "--against-org")
    assert result.returncode == 2
    assert "SALESFORCE_CLIENT_ID" in result.stderr


def test_against_org_needs_only_the_salesforce_settings(org_env):
    salesforce_only = {k: v for k, v in org_env.items() if not k.startswith("WECHAT_")}
    result = validate(str(DEFAULT), "--against-org", env=salesforce_only)
    assert result.returncode == 0, result.stdout + result.stderr
