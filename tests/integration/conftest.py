"""The whole bridge on real parts: both sandboxes over HTTPS, the web app over HTTP, a
real RQ worker on a real Redis, and WeChat's side played by the sandbox's sender."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rq import SimpleWorker
from rq.job import Job

from connector.settings import load_settings
from jobs.queues import inbound_queue
from jobs.runtime import WorkerContext, build_context, use_context
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

    def run_due(self) -> None:
        """Move every scheduled inbound job to the queue (its time has come), then work."""
        queue = inbound_queue(self.redis)
        for job_id in queue.scheduled_job_registry.get_job_ids():
            queue.scheduled_job_registry.remove(job_id)
            queue.enqueue_job(Job.fetch(job_id, connection=self.redis))
        self.work()

    def count(self, sobject: str, **where) -> int:
        rows = self.box.salesforce.records(sobject)
        return sum(all(r.get(k) == v for k, v in where.items()) for r in rows)


@contextlib.contextmanager
def running_bridge(tmp_path, redis_conn, redis_url, monkeypatch, *, accounts: int = 1,
                   mapping: Callable[[RunningSandbox], str] | None = None):
    """A :class:`Bridge` on sandboxes of ``accounts`` Official Accounts; ``mapping``
    (given the sandbox, whose original ids it may need) writes the MAPPING_FILE text."""
    box = start_sandbox(tmp_path, followers=60, seed=3, accounts=accounts)
    env = {**box.env, "REDIS_URL": redis_url}
    if mapping is not None:
        path = tmp_path / "mapping.yaml"
        path.write_text(mapping(box), encoding="utf-8")
        env["MAPPING_FILE"] = str(path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    context = build_context(settings, redis_conn)
    use_context(context)
    web = serve(create_app(settings, redis_conn))
    sender = CallbackSender(f"{web.url}/wechat/callback", token=env["WECHAT_TOKEN"],
                            app_id=env["WECHAT_APP_ID"], original_id=env["WECHAT_ORIGINAL_ID"],
                            encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode="safe",
                            timeout=5.0)
    try:
        yield Bridge(box=box, web=web, sender=sender, context=context)
    finally:
        use_context(None)
        sender.close()
        context.salesforce.close()
        gc.collect()  # drop lingering responses so the servers stop at once
        web.stop()
        box.stop()


@pytest.fixture
def bridge(tmp_path, redis_conn, redis_url, monkeypatch):
    with running_bridge(tmp_path, redis_conn, redis_url, monkeypatch) as running:
        yield running


@pytest.fixture
def make_bridge(tmp_path, redis_conn, redis_url, monkeypatch):
    """``make_bridge(accounts=2, mapping=...)``: a bridge as :func:`running_bridge` builds
    it, stopped at the end of the test."""
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(
            running_bridge(tmp_path, redis_conn, redis_url, monkeypatch, **options))
