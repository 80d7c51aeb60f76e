"""The whole bridge on real parts: both sandboxes over HTTPS, the web app over HTTP, a
real RQ worker on a real Redis, and WeChat's side played by the sandbox's sender."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import pytest
from rq import SimpleWorker

from connector.settings import load_settings
from jobs.context import WorkerContext, build_context, use_context
from jobs.queues import inbound_queue
from sandbox.run import RunningSandbox, start_sandbox
from sandbox.server import RunningServer, serve
from sandbox.wechat import CallbackSender
from webhooks.app import create_app


@dataclass
class Bridge:
    box: RunningSandbox
    web: RunningServer
    sender: CallbackSender
    context: WorkerContext

    @property
    def redis(self):
        return self.context.redis

    def work(self) -> None:
        """Run every queued job once, in this process (as a worker dyno would)."""
        queue = inbound_queue(self.redis)
        SimpleWorker([queue], connection=self.redis).work(burst=True, logging_level="WARNING")

    def count(self, sobject: str, **where) -> int:
        rows = self.box.salesforce.records(sobject)
        return sum(all(r.get(k) == v for k, v in where.items()) for r in rows)


@pytest.fixture
def bridge(tmp_path, redis_conn, redis_url, monkeypatch):
    box = start_sandbox(tmp_path, followers=60, seed=3)
    for key, value in {**box.env, "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    context = build_context(settings, redis_conn)
    use_context(context)
    web = serve(create_app(settings, redis_conn))
    env = box.env
    sender = CallbackSender(f"{web.url}/wechat/callback", token=env["WECHAT_TOKEN"],
                            app_id=env["WECHAT_APP_ID"], original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe",
                            timeout=5.0)
    yield Bridge(box=box, web=web, sender=sender, context=context)
    use_context(None)
    sender.close()
    context.salesforce.close()
    gc.collect()  # drop lingering responses so the servers stop at once
    web.stop()
    box.stop()
