"""The worker process: rq's HerokuWorker, kept alive through Redis outages.

rq 3.0 (``rq/worker/base.py``) rides out a connection error only while it waits for a job
(``dequeue_job_and_maintain_ttl`` retries with backoff). Anywhere else - the worker's
birth in its constructor and ``register_birth``, a heartbeat while a job runs, the
maintenance between jobs, a signal handler reading the worker's state - a
``redis.exceptions.ConnectionError`` ends ``Worker.work()`` ("found an unhandled
exception, quitting") or escapes from it, and its scheduler process
(``rq/scheduler.py``, which moves jobs waiting for a retry back to their queue) dies on
the first one and is started again only at the worker's next maintenance, ten minutes on.

So:

- :func:`work` starts a fresh :class:`BridgeWorker` whenever the last one ended without
  being asked to stop (an outage, or anything rq gave up on), after a growing delay
  (:func:`connector.redis_connection.reconnect_delay`), and logs why; a worker started
  while Redis is down keeps trying. Only a stop request (SIGTERM, SIGINT) or burst mode
  ends it.
- :class:`BridgeWorker` skips a heartbeat Redis did not take (logged; the next one, a
  few seconds on, renews the keys, whose TTLs are minutes) instead of abandoning the
  work horse it is watching; a SIGTERM while Redis is away stops it (rq's own wait for
  Redis does not look at stop requests); idle, it tries Redis again at least every 5 s.
- :class:`BridgeWorker`'s maintenance also puts back on their queue the jobs a batch took
  whose owner died with its worker (``jobs/batching.py``), once their lease lapsed.
- A job whose work horse ended while Redis was away may leave its batch's claims behind
  (the horse's own release needs Redis). The worker process remembers every job it ran
  until a release after the horse ended went through (:meth:`BridgeWorker.settle_ended`):
  when Redis is back (the next worker's start, or the next job), the claims that job still
  holds are dropped and the jobs it took go back to their queue at once, instead of after
  the lease (2 minutes) and a sweep. Safe: the horse is gone, and the release drops only
  the claims that still hold that job's own owner values.
- :class:`BridgeScheduler` waits for Redis and carries on instead of dying, and stops
  when its worker is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.exceptions import StopRequested
from rq.job_lifecycle import call_exception_handlers
from rq.scheduler import RQScheduler
from rq.worker import HerokuWorker

from connector.errors import BridgeError
from connector.redis_connection import reconnect_delay
from jobs import batching
from jobs.deaths import MAINTENANCE_SECONDS, WORKER_TTL, abandoned, horse_killed

log = logging.getLogger(__name__)

# What "Redis is away" looks like to redis-py: refused, reset, or no answer in time.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
# A worker that ran this long before it ended was healthy: the next delay starts short.
HEALTHY_SECONDS = 60.0


class BridgeScheduler(RQScheduler):
    """rq's scheduler process, which outlives a Redis outage but not its worker.

    rq's ``RQScheduler.work`` raises on a connection error, which ends the process. This
    one runs it again after a delay until a stop is requested (its birth is idempotent,
    and its locks are refreshed or taken again on the next beat). It stops when its
    worker is gone (killed with SIGKILL, its SIGTERM never comes): an orphan would hold
    the scheduler locks, and wait for Redis forever.
    """

    _worker_pid = 0

    def start(self):
        self._worker_pid = os.getpid()  # before the fork: the process that started it
        return super().start()

    def worker_gone(self) -> bool:
        return bool(self._worker_pid) and os.getppid() != self._worker_pid

    def heartbeat(self) -> None:
        if self.worker_gone():
            self.log.warning("scheduler: its worker (pid %d) is gone; stopping",
                             self._worker_pid)
            self._stop_requested = True  # rq's loop stops at its next turn
        super().heartbeat()

    def work(self) -> None:
        failures = 0
        while not self._stop_requested:
            try:
                super().work()
                return
            except UNREACHABLE as exc:
                delay = reconnect_delay(failures)
                failures += 1
                self.log.error("scheduler: Redis unavailable (%s); trying again in %.1f s",
                               exc, delay)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self._stop_requested:
                time.sleep(0.1)
                if self.worker_gone():
                    self.log.warning("scheduler: its worker is gone; stopping")
                    return


class BridgeWorker(HerokuWorker):
    """rq's HerokuWorker that survives a missed heartbeat, starts a
    :class:`BridgeScheduler`, and remembers whether it was asked to stop."""

    # While idle, rq retries a lost connection itself, doubling its wait up to this
    # (rq's default, 60 s, would leave the queues unserved for up to a minute after Redis
    # is back).
    max_connection_wait_time = 5.0
    # The jobs this process ran whose claims were not yet released after their horse
    # ended (Redis was away): shared by the workers :func:`work` starts one after another.
    ended: set[str] = set()

    def __init__(self, *args, **kwargs) -> None:
        self.stop_asked = False  # set before rq's constructor, which may raise
        # A dead job's claims are released at once and rq retries it (jobs/deaths.py);
        # maintenance often enough that a dead worker's jobs and scheduler are taken over.
        kwargs.setdefault("exception_handlers", [abandoned])
        kwargs.setdefault("work_horse_killed_handler", horse_killed)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)
        self.settle_ended()  # Redis answered the constructor: it is back

    def execute_job(self, job, queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            if not _running(self.horse_pid):  # never a batch whose horse still runs
                BridgeWorker.ended.add(job.id)
                self.settle_ended()

    def settle_ended(self) -> int:
        """Drop the claims the jobs in :attr:`ended` still hold (their horses have
        ended: ``jobs/batching.py``'s :func:`~jobs.batching.release_job`), forgetting
        each one released; those Redis could not take are kept for the next time. Never
        raises. Returns how many claims were dropped."""
        dropped = 0
        for job_id in sorted(BridgeWorker.ended):
            try:
                dropped += batching.release_job(self.connection, job_id)
            except UNREACHABLE as exc:
                log.warning("worker %s: the claims of %d ended jobs are kept until Redis is "
                            "back: %s", self.name, len(BridgeWorker.ended), exc)
                return dropped
            BridgeWorker.ended.discard(job_id)
        if dropped:
            log.warning("worker %s: %d claims left by ended jobs released", self.name,
                        dropped)
        return dropped

    def handle_exception(self, job, *exc_info) -> None:
        """A failure the bridge describes (a :class:`BridgeError`: a refused write, a
        mapping mistake) was logged by the job in one clear ERROR line and is shown by
        ``connector status``: rq's traceback of it goes to DEBUG, not the operator's log.
        Anything else (a bug) keeps rq's full traceback."""
        if isinstance(exc_info[1], BridgeError):
            log.info("job %s failed: %s", job.id, exc_info[1])
            log.debug("job %s failed", job.id, exc_info=exc_info)
            call_exception_handlers(self._exc_handlers, job, *exc_info)
            return
        super().handle_exception(job, *exc_info)

    def request_stop(self, signum, frame) -> None:
        self.stop_asked = True
        try:
            super().request_stop(signum, frame)
        except UNREACHABLE as exc:  # rq reads the worker's state from Redis here
            log.error("worker %s: stop requested while Redis is unavailable (%s); stopping "
                      "now", self.name, exc)
            self._stop_requested = True
            if self.horse_pid:  # its job is left to rq's recovery of abandoned jobs
                self.handle_warm_shutdown_request()
            # rq's wait for Redis does not look at stop requests: leave it from here.
            raise StopRequested() from None

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        if pipeline is not None:  # queued only: the pipeline's execute() reports errors
            return super().heartbeat(timeout, pipeline)
        try:
            super().heartbeat(timeout, pipeline)
        except UNREACHABLE as exc:
            log.warning("worker %s: heartbeat skipped, Redis unavailable: %s", self.name, exc)

    def maintain_heartbeats(self, job, execution) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except UNREACHABLE as exc:
            log.warning("worker %s: heartbeat of job %s skipped, Redis unavailable: %s",
                        self.name, job.id, exc)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        self.sweep_taken()

    def sweep_taken(self) -> int:
        """Put back on their queue the jobs a batch took whose owner died with its whole
        worker (``jobs/batching.py``: :func:`~jobs.batching.sweep`); at each maintenance,
        safe in every worker at once. Returns how many went back."""
        try:
            moved = batching.sweep(self.connection, Queue.redis_queue_namespace_prefix)
        except UNREACHABLE as exc:
            log.warning("worker %s: sweep of taken jobs skipped, Redis unavailable: %s",
                        self.name, exc)
            return 0
        if moved:
            log.warning("worker %s: %d jobs taken by a batch whose owner died went back "
                        "to their queue", self.name, moved)
        return moved

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         *args, **kwargs) -> None:
        # rq builds its RQScheduler in this method; ours differs only in its work loop.
        # The swap is done around rq's own method, so its lock and burst logic stay rq's.
        import rq.worker.base as rq_base

        original = rq_base.RQScheduler
        rq_base.RQScheduler = BridgeScheduler
        try:
            super()._start_scheduler(burst, logging_level, *args, **kwargs)
        finally:
            rq_base.RQScheduler = original


def _running(pid: int) -> bool:
    """Whether our child ``pid`` still runs (reaping it if it has just ended)."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped already (rq's monitor did)
        return False
    return done == 0


def work(connection: Redis, queues: Callable[[Redis], Sequence[Queue]], *,
         burst: bool = False, logging_level: str = "INFO",
         worker_class: type[BridgeWorker] = BridgeWorker) -> bool:
    """Run workers on ``queues(connection)`` until one is asked to stop (or, in burst
    mode, has emptied them); start a new one, after a growing delay, whenever one ends
    otherwise or cannot start (Redis unreachable). Returns whether any job was run.

    Raises:
        Whatever is not a Redis connection error (the process's supervisor decides).
    """
    failures = 0
    worked = False
    stop_asked = False

    def stop_between_workers(signum, frame) -> None:
        nonlocal stop_asked
        stop_asked = True

    # Ours while no worker runs (before the first, between two); each worker's work()
    # installs rq's own.
    previous = {sig: signal.signal(sig, stop_between_workers)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop_asked:
            worker = None
            started = time.monotonic()
            try:
                worker = worker_class(queues(connection), connection=connection)
                if stop_asked:
                    break
                worked |= worker.work(burst=burst, with_scheduler=True,
                                      logging_level=logging_level)
                if burst:
                    break
                reason = "rq ended its work loop (its error is logged above)"
            except UNREACHABLE as exc:
                reason = f"Redis unavailable: {exc}"
            except StopRequested:  # raised by our request_stop, outside rq's work loop
                break
            finally:
                for sig in previous:
                    signal.signal(sig, stop_between_workers)
                if worker is not None:
                    _drop_subscription(worker)
            if worker is not None and worker.stop_asked:
                break
            if time.monotonic() - started > HEALTHY_SECONDS:
                failures = 0  # it ran well for a while: this is a new incident
            delay = reconnect_delay(failures)
            failures += 1
            log.error("worker stopped (%s); starting a new one in %.1f s", reason, delay)
            deadline = time.monotonic() + delay
            while not stop_asked and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return worked


def _drop_subscription(worker: BridgeWorker) -> None:
    """Stop the pubsub thread of a worker that has ended (rq's teardown unsubscribes
    only after registering the worker's death, which needs Redis): one thread less per
    restart. Stopping a stopped thread again does nothing."""
    thread = worker.pubsub_thread
    if thread is not None:
        thread.stop()
