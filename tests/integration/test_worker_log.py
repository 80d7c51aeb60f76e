"""The worker's log: a failure the bridge describes is one line, not rq's traceback; a
bug keeps its traceback (jobs/worker.py, BridgeWorker.handle_exception)."""

from __future__ import annotations

import os
import subprocess
import sys

from rq import Queue

WORKER = ("import logging, sys; logging.basicConfig(level='INFO', stream=sys.stderr); "
          "from connector.redis_connection import connect; from jobs.worker import work; "
          "from rq import Queue; "
          "work(connect(), lambda r: [Queue('log-test', connection=r)], burst=True)")


def _worker_log(redis_url: str) -> str:
    done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True,
                          env={**os.environ, "REDIS_URL": redis_url}, timeout=120)
    return done.stderr


def test_a_described_failure_is_one_line_and_a_bug_keeps_its_traceback(redis_url, redis_conn):
    queue = Queue("log-test", connection=redis_conn)
    # a BridgeError (MappingError: the file is missing), as a refused write would raise
    queue.enqueue("mappings.loader.load_mapping", "/nonexistent/mapping.yaml",
                  job_id="described")
    log = _worker_log(redis_url)
    assert "job described failed: [bridge" in log
    assert "Traceback" not in log
    assert queue.failed_job_registry.get_job_ids() == ["described"]

    queue.enqueue("builtins.int", "not a number", job_id="bug")
    log = _worker_log(redis_url)
    assert "Traceback" in log and "ValueError" in log
