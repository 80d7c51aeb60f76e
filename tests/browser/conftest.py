"""The console on real parts, for a real browser: both emulators over HTTPS, the web app
over HTTP on a known port (its OAuth callback must be registered before it serves), a
real RQ worker run on demand, and Debian's chromium driven by Playwright.

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it);
Playwright's own browser download is never used. Without ``/usr/bin/chromium`` the
browser tests are skipped, saying so.
"""

from __future__ import annotations

import gc
import os
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rq import SimpleWorker

from connector.settings import DEFAULT_MAPPING, load_settings
from jobs.queues import inbound_queue
from jobs.runtime import WorkerContext, build_context, use_context
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import RunningServer, free_port, serve
from sandbox.wechat import CallbackSender
from webhooks.app import create_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root in a closed network: no sandbox (root), and none of chromium's calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ADMIN, ADMIN_PASSWORD = "ops@bridge.sandbox", "console-admin-pw"
PERMISSION_SET = "WeChat_Bridge_Admin"


@dataclass
class Console:
    box: RunningSandbox
    web: RunningServer
    sender: CallbackSender
    context: WorkerContext
    mapping_file: Path

    @property
    def url(self) -> str:
        return f"{self.web.url}/console"

    @property
    def redis(self):
        return self.context.redis

    def work(self) -> None:
        """Run every queued inbound job once, in this process (as a worker dyno would)."""
        SimpleWorker([inbound_queue(self.redis)], connection=self.redis).work(
            burst=True, logging_level="WARNING")


@pytest.fixture
def console(tmp_path, redis_conn, redis_url, monkeypatch):
    box = start_sandbox(tmp_path, followers=20, seed=5)
    port = free_port()
    mapping_file = tmp_path / "mapping.yaml"
    shutil.copyfile(DEFAULT_MAPPING, mapping_file)
    env = {**box.env, "REDIS_URL": redis_url, "MAPPING_FILE": str(mapping_file),
           "CONSOLE_BASE_URL": f"http://127.0.0.1:{port}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    box.salesforce.web_login.allow_callback(f"http://127.0.0.1:{port}/console/oauth/callback")
    box.salesforce.add_person(ADMIN, ADMIN_PASSWORD, permission_sets=(PERMISSION_SET,))
    box.salesforce.add_person("sales@bridge.sandbox", "sales-pw")  # no permission set
    settings = load_settings()
    context = build_context(settings, redis_conn)
    use_context(context)
    web = serve(create_app(settings, redis_conn), port=port)
    sender = CallbackSender(f"{web.url}/wechat/callback", token=env["WECHAT_TOKEN"],
                            app_id=env["WECHAT_APP_ID"], original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe",
                            timeout=5.0)
    try:
        yield Console(box, web, sender, context, mapping_file)
    finally:
        use_context(None)
        sender.close()
        context.salesforce.close()
        gc.collect()
        web.stop()
        box.stop()


@pytest.fixture
def client(console):
    """The console over plain HTTP (no browser), redirects not followed."""
    with httpx.Client(base_url=console.web.url, follow_redirects=False, timeout=10) as c:
        yield c


@pytest.fixture
def emulator(console):
    """The Salesforce emulator over HTTPS, trusting the sandbox's own CA."""
    with httpx.Client(base_url=console.box.salesforce_url, follow_redirects=False,
                      verify=ssl.create_default_context(
                          cafile=str(console.box.tls.bundle_file)), timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not at {CHROMIUM} (apt-get install -y chromium; "
                    ".ci/run installs it when it can)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    # The emulators' certificate is the sandbox's own CA, which chromium does not know.
    context = chromium.new_context(ignore_https_errors=True,
                                   viewport={"width": 1100, "height": 760})
    yield context.new_page()
    context.close()
