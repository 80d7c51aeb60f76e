"""Start the bridge's processes: the web app, RQ workers, and both together.

``connector web``, ``connector worker`` and ``connector clock`` are what Heroku runs
(see Procfile); ``connector run`` starts one of each for a single machine, restarts one
that dies, and stops them all on Ctrl-C. Each role imports what it runs when it starts
(a web process has no use for the worker's modules, nor the other way round).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connector.redis_connection import connect, redis_url_from_env
from connector.settings import Settings, get_settings
from mappings.loader import load_mapping

log = logging.getLogger(__name__)


def check_worker_config(settings: Settings) -> None:
    """Refuse to start on an invalid mapping (the message names file, line and fix).

    Raises:
        MappingError: the mapping file is invalid.
    """
    load_mapping(settings.MAPPING_FILE)


def _warn_if_embedded(settings: Settings, role: str) -> None:
    if not settings.redis_url:
        log.info("REDIS_URL is not set: this %s process uses the project's embedded Redis "
                 "(connector/embedded_redis.py)", role)


def run_web(settings: Settings | None = None, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve the callback on ``$PORT`` (all interfaces: Heroku's router connects to the dyno)."""
    import uvicorn

    from webhooks.app import create_app

    settings = settings or get_settings()
    _warn_if_embedded(settings, "web")
    # Heroku sets WEB_CONCURRENCY from the dyno's size: one process per core it can use.
    workers = max(1, int(os.environ.get("WEB_CONCURRENCY", "1")))
    uvicorn.run(
        "webhooks.app:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers,
        host=host,
        port=settings.PORT,
        log_level=settings.LOG_LEVEL.lower(),
        # Heroku's router speaks HTTP/1.1 keep-alive and sets X-Forwarded-*; trust it
        # (rejection records then show the caller's address, not the router's).
        proxy_headers=True,
        forwarded_allow_ips="*",
        access_log=False,
        # uvicorn's own handlers would print plain lines; without them its loggers reach
        # the root handler of connector.logs (JSON off a terminal), as every other line.
        log_config=None,
    )


def run_worker(settings: Settings | None = None, *, burst: bool = False) -> bool:
    """Run an RQ HerokuWorker on the inbound queue, then the changes queue (the way
    back: polls and Salesforce changes), then the messages queue (message requests),
    with the scheduler for retries, until it is asked to stop (``jobs/worker.py``: a
    Redis outage, even at start, is waited out, never an exit).

    HerokuWorker turns Heroku's SIGTERM into a clean stop of the running job; the
    scheduler moves jobs that returned ``Retry(interval=...)`` back to the queue; a job
    whose work horse dies is retried, its claims released (``jobs/deaths.py``).
    """
    import jobs.changes  # noqa: F401 - imported here so every forked work horse inherits
    import jobs.followups  # noqa: F401
    import jobs.inbound  # noqa: F401
    import jobs.messages  # noqa: F401
    import jobs.poll  # noqa: F401
    from jobs.queues import changes_queue, inbound_queue, messages_queue
    from jobs.runtime import build_context, use_context
    from jobs.worker import work

    settings = settings or get_settings()
    _warn_if_embedded(settings, "worker")
    check_worker_config(settings)
    # Import the gateways (simple-salesforce, wechatpy) once in the parent: a work horse is
    # forked per job, and importing them in each would cost ~0.4 s a job. The context is
    # installed too, so a work horse does not load the mapping and build the gateways
    # again (~0.1 s a job): it inherits them unused (no connection is open yet; the Redis
    # client makes its own after a fork).
    use_context(build_context(settings))
    # Every work horse and rq's scheduler is a fork of this process, sharing its pages
    # until one writes to them; a collection in a fork writes to the header of every
    # object it visits, copying the pages they sit on. What was made at start (modules,
    # the mapping, the gateways: nearly all of this process) lives as long as the
    # process: frozen, collections leave it alone, and the forks keep sharing it
    # (measured: a full collection in a fork of this process copied 29 MB of it; frozen,
    # under 1 MB; rq's scheduler, a fork that lives as long as the worker, runs them).
    gc.collect()
    gc.freeze()
    # rq raises this connection's socket timeout above its blocking dequeue's own.
    redis = connect(settings.redis_url)
    return work(redis, lambda r: [inbound_queue(r), changes_queue(r), messages_queue(r)],
                burst=burst, logging_level=settings.LOG_LEVEL)


def run_clock(settings: Settings | None = None, *, wait: bool = True) -> int:
    """The one clock process: enqueue the change poll every POLL_INTERVAL_SECONDS (see
    ``jobs/clock.py``; a second clock waits for the first to stop)."""
    from jobs.clock import run_clock as clock

    settings = settings or get_settings()
    _warn_if_embedded(settings, "clock")
    check_worker_config(settings)
    return clock(settings, connect(settings.redis_url), wait=wait)


def spawn(role: str, env: dict[str, str] | None = None, log: Path | None = None
          ) -> subprocess.Popen:
    """Start ``connector <role>`` as a child process with ``env`` added, its output
    appended to ``log`` when given (else the terminal's)."""
    child_env = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen([sys.executable, "-m", "connector.cli", role], env=child_env)
    with open(log, "ab") as output:  # the child holds its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "connector.cli", role], env=child_env,
                                stdout=output, stderr=subprocess.STDOUT)


def run_all(settings: Settings | None = None) -> int:
    """Web, one worker and the clock as child processes, each restarted when it dies
    (``connector/cli/supervisor.py``); all stopped on SIGTERM or SIGINT."""
    from connector.cli.supervisor import Supervisor
    from connector.embedded_redis import describe

    settings = settings or get_settings()
    check_worker_config(settings)
    # Without REDIS_URL, start the embedded Redis here so web and worker share it.
    shared = {"REDIS_URL": settings.redis_url or redis_url_from_env()}
    # A Redis that does not answer now is a configuration mistake, said in one line by
    # `connector` (connector/cli/main.py); once running, an outage is waited out instead.
    connect(shared["REDIS_URL"], retries=0).ping()
    # Which Redis, as `connector status` says it: a second terminal's commands must find
    # the same one (the embedded one: any command run from this folder).
    log.info("%s", describe(shared["REDIS_URL"]))
    return Supervisor({role: functools.partial(spawn, role, shared)
                       for role in ("web", "worker", "clock")}).run()


def stop_children(children: list[subprocess.Popen], timeout: float = 10) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
