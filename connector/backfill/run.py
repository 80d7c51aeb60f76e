"""The backfill's loop: pages of followers, batches of 200, each written as a follow.

One run per account at a time (a lock in Redis). For each page of WeChat's follower list
(``user/get``, 10,000 OpenIDs) and each batch of 200 OpenIDs in it:

1. be polite (:mod:`.polite`): while live events wait in the inbound queue, pause a
   moment (they go first); while the org is past the bridge's allocation for background
   work (``ApiBudget.allows("backfill")``) or the daily limit is spent, wait;
2. read the profiles (``user/info/batchget``, 100 a call; a WeChat quota hit waits and
   goes on);
3. plan each follower as the event :mod:`.followers` makes of them, with the inbound
   feature's own planning (:func:`~connector.inbound.batch.plan_all`);
4. hold the followers' keys (:mod:`connector.follower_holds`, the keys the live inbound
   batches hold), waiting for those a live batch is writing, record the campaign touches,
   and write with :func:`~connector.inbound.apply.apply_plans` (sObject Collections, 200
   records a call, upserts by external id);
5. record the batch as done with its counts (:mod:`.state`), after its writes.

Live-only steps of an inbound batch are left out on purpose: no auto-reply or follow-up
goes to a follower for having been imported, and no messaging window opens (they did
nothing just now).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from connector.backfill.followers import Treatment, event_for
from connector.backfill.polite import Politeness, patiently, wait_for_turn
from connector.backfill.progress import Progress, quiet
from connector.backfill.state import BackfillState, Snapshot
from connector.chunks import chunks
from connector.context import WorkerContext
from connector.errors import ConfigurationError, RetriableError
from connector.events import InboundEvent
from connector.follower_holds import claim_followers, release_followers
from connector.inbound import touches
from connector.inbound.apply import BatchOutcome, apply_plans
from connector.inbound.batch import plan_all
from connector.locks import lock, release
from connector.salesforce import SalesforceGateway
from connector.salesforce.budget import ApiBudget
from connector.salesforce.sessions import SessionStore

log = logging.getLogger(__name__)

# Followers per batch: its writes go 200 records per sObject Collections call; its
# lookups (persons, follower records) one query per 382 OpenIDs (what a query URL holds),
# five queries to a composite call, so a large batch shares each lookup's calls among
# more writes. A quarter of WeChat's page of 10,000: a page is four batches, written at
# once (``Politeness.parallel``), with no fifth batch left to run alone after them.
# Measured with benchmarks/backfill.py: 0.033 Salesforce calls per follower with batches
# of 200, 0.0206 with 2,000 (one query a call, the writes alone 0.012); 0.0145 with
# 2,500 and the queries five to a call.
BATCH = 2500
# The run's lock is renewed every third of this by a thread of its own (batches may wait
# for hours on a quota); a killed run's lock frees itself this long after.
LOCK_SECONDS = 30


@dataclass
class Run:
    """One backfill run's parts."""

    ctx: WorkerContext
    account: str
    state: BackfillState
    treatment: Treatment
    polite: Politeness
    budget: ApiBudget
    owner: str
    batch: int = BATCH


def account_of(ctx: WorkerContext, account: str | None) -> str:
    """The original id of the account to backfill (``None``: the primary account).

    Raises:
        ConfigurationError: no configured account has that original id.
    """
    ids = [a for a in ctx.wechat.original_ids if a]
    if account is None:
        if ids:
            return ids[0]
        if ctx.settings.WECHAT_ORIGINAL_ID:
            return ctx.settings.WECHAT_ORIGINAL_ID
        raise ConfigurationError("the backfill needs the account's original id: set "
                                 "WECHAT_ORIGINAL_ID (gh_...) or pass --account")
    if account not in ids and account != ctx.settings.WECHAT_ORIGINAL_ID:
        raise ConfigurationError(f"no configured WeChat account has the original id "
                                 f"{account!r}: add it to WECHAT_ACCOUNTS or pass one of "
                                 f"{', '.join(ids) or '(none)'}")
    return account


def backfill(ctx: WorkerContext, account: str | None = None, *,
             treatment: Treatment | None = None, restart: bool = False,
             polite: Politeness | None = None, progress: Progress | None = None,
             stop_after_pages: int | None = None, batch: int = BATCH) -> Snapshot:
    """Write every current follower of ``account`` to Salesforce, resuming a run that
    stopped; the final state. ``restart`` forgets a previous run (finished or not) and
    starts from the first page; ``stop_after_pages`` stops (status ``stopped``) after
    that many pages of this run, as a kill would (tests, trial runs). ``batch``:
    followers per batch (:data:`BATCH`).

    Raises:
        ConfigurationError: the account is unknown, or another backfill of it runs.
        FatalError: a whole Salesforce or WeChat call was refused for good (the run
            stops; started again, it resumes with the batch that failed).
    """
    account = account_of(ctx, account)
    state = BackfillState(ctx.redis, account)
    held = lock(ctx.redis, state.lock_name, ttl=LOCK_SECONDS)
    if not held.acquire():
        raise ConfigurationError(f"a backfill of {account} is running already (see "
                                 "`connector backfill status`)")
    stop = threading.Event()
    heartbeat = threading.Thread(target=_keep, args=(held, stop), daemon=True,
                                 name="backfill-lock")
    heartbeat.start()
    try:
        if restart:
            state.reset()
        if state.snapshot().status == "finished":
            return state.snapshot()
        run = Run(ctx, account, state, treatment or Treatment(), polite or Politeness(),
                  ApiBudget.for_settings(ctx.redis, ctx.settings),
                  f"backfill:{uuid.uuid4().hex[:12]}", batch)
        state.start()
        try:
            finished = _pages(run, progress or quiet(), stop_after_pages)
        except BaseException as error:
            state.set_status("stopped", f"{type(error).__name__}: {error}")
            raise
        state.set_status("finished" if finished else "stopped",
                         "" if finished else f"stopped after {stop_after_pages} pages")
        return state.snapshot()
    finally:
        stop.set()
        heartbeat.join()
        release(held)


def _keep(held, stop: threading.Event) -> None:
    """Renew the run's lock until ``stop``; a renewal that fails (Redis away, or the
    lock lost) is logged and tried again at the next beat."""
    while not stop.wait(LOCK_SECONDS / 3):
        try:
            held.reacquire()
        except Exception as error:  # noqa: BLE001 - the run goes on; the next beat retries
            log.warning("backfill lock not renewed: %s", error)


def _pages(run: Run, progress: Progress, stop_after: int | None) -> bool:
    """Write pages until the list ends (True) or ``stop_after`` pages are done (False)."""
    gateway = run.ctx.wechat.for_account(run.account)
    done_pages = 0
    snap = run.state.snapshot()
    progress.start(snap.total, snap.counts.get("read", 0))
    writers = Writers(run, progress)
    try:
        while True:
            kept = run.state.current_page()
            if kept is None:
                snap = run.state.snapshot()
                if snap.counts.get("pages_done") and not snap.cursor:
                    return True  # the last page had no next_openid: the list is done
                before = gateway.api_calls
                total, openids, next_cursor = patiently(
                    run.state, run.polite, "reading the follower list",
                    lambda: gateway.follower_page(snap.cursor or None))  # noqa: B023
                run.state.count_calls(gateway.api_calls - before, 0)
                if not openids:
                    return True
                run.state.keep_page(openids, next_cursor, total)
                progress.start(total, snap.counts.get("read", 0))
                kept = (openids, next_cursor)
            openids, next_cursor = kept
            done = run.state.done_batches()  # written before the last run stopped
            writers.write([(i, batch) for i, batch in enumerate(chunks(openids, run.batch))
                           if i not in done])
            run.state.page_done(next_cursor)
            done_pages += 1
            if not next_cursor:
                return True
            if stop_after is not None and done_pages >= stop_after:
                return False
    finally:
        writers.close()


class Writers:
    """Writes a page's batches, :attr:`Politeness.parallel` at a time: each thread has
    its own Salesforce gateway (one is not thread-safe; they share the login), the
    WeChat gateway is shared (it is). A batch's Salesforce calls are counted as the
    calls all gateways made since the last batch was recorded (and WeChat's alike), so
    the sums are exact."""

    def __init__(self, run: Run, progress: Progress) -> None:
        self.run, self.progress = run, progress
        self.lock = threading.Lock()
        self.local = threading.local()
        self.gateways: list[SalesforceGateway] = [run.ctx.salesforce]
        self.counted = run.ctx.salesforce.api_calls
        self.wechat = run.ctx.wechat.for_account(run.account)
        self.counted_wechat = self.wechat.api_calls

    def _context(self) -> WorkerContext:
        """The calling thread's context: the run's own in the first (or only) thread."""
        ctx = getattr(self.local, "ctx", None)
        if ctx is None:
            base = self.run.ctx
            if threading.current_thread() is threading.main_thread():
                ctx = base
            else:
                gateway = SalesforceGateway(
                    base.settings, sessions=SessionStore(
                        base.redis, base.settings.SALESFORCE_CLIENT_ID,
                        base.settings.SALESFORCE_USERNAME),
                    allow_duplicates=base.mapping.salesforce_rules.allow_duplicates,
                    budget=ApiBudget.for_settings(base.redis, base.settings))
                with self.lock:
                    self.gateways.append(gateway)
                ctx = replace(base, salesforce=gateway)
            self.local.ctx = ctx
        return ctx

    def write(self, batches: list[tuple[int, list[str]]]) -> None:
        """Write ``batches`` (position, OpenIDs), marking each done after its writes.

        Raises:
            BridgeError: a batch failed for good (the others in flight finish first).
        """
        self.counted_wechat = self.wechat.api_calls  # the page's read is counted apart
        if self.run.polite.parallel <= 1:
            for index, batch in batches:
                self._one(index, batch)
            return
        with ThreadPoolExecutor(self.run.polite.parallel,
                                thread_name_prefix="backfill") as pool:
            for future in [pool.submit(self._one, i, b) for i, b in batches]:
                future.result()

    def _one(self, index: int, batch: list[str]) -> None:
        run = self.run
        wait_for_turn(run.state, run.polite, run.budget)
        counts, skipped = write_batch(run, self._context(), batch)
        with self.lock:
            total = sum(g.api_calls for g in self.gateways)
            counts["calls_salesforce"] = total - self.counted
            counts["calls_wechat"] = self.wechat.api_calls - self.counted_wechat
            self.counted, self.counted_wechat = total, self.wechat.api_calls
            run.state.batch_done(index, counts, skipped)
            self.progress.advance(len(batch), counts["created"], counts["matched"],
                                  counts["skipped"])

    def close(self) -> None:
        for gateway in self.gateways[1:]:
            gateway.close()


def write_batch(run: Run, ctx: WorkerContext, openids: list[str]
                ) -> tuple[Counter, Counter]:
    """Read, plan and write one batch of followers (``ctx``: the calling thread's);
    its counts and its skipped reasons (API calls are counted by the caller: the
    gateways are shared with batches in flight beside it).

    Raises:
        FatalError: a whole call was refused for good.
    """
    state = run.state
    gateway = ctx.wechat.for_account(run.account)
    profiles = patiently(state, run.polite, "reading followers' profiles",
                         lambda: gateway.get_profiles(openids))
    skipped: Counter = Counter()
    events: dict[str, InboundEvent] = {}
    for openid in openids:
        follower = profiles.get(openid)
        if follower is None:
            skipped["WeChat does not know the OpenID (40003)"] += 1
        elif not follower.subscribed:
            skipped["unfollowed after the list was read"] += 1
        else:
            event = event_for(run.account, follower, run.treatment)
            events[event.dedupe_key] = event
    plans, unmapped = plan_all(ctx, events, profiles)
    for why in unmapped.values():
        skipped[f"the mapping does not handle it: {why}"] += 1
    planned = {plan.key: events[plan.key] for plan in plans}
    applied = None
    if planned:

        def hold_and_write() -> BatchOutcome:
            _hold(run, planned)
            try:
                touched = touches.record(ctx.redis, touches.touches_of(plans, planned))
                return apply_plans(ctx.salesforce, plans, touched)
            finally:
                release_followers(ctx.redis, run.owner, planned)

        applied = patiently(state, run.polite, "writing to Salesforce", hold_and_write)
    for error in (applied.errors.values() if applied else ()):
        skipped[f"Salesforce refused it: {error.code or type(error).__name__}"] += 1
    created = applied.created if applied else set()
    matched = set(applied.persons) - created if applied else set()
    counts = Counter(read=len(openids), created=len(created), matched=len(matched),
                     skipped=sum(skipped.values()))
    return counts, skipped


def _hold(run: Run, events: dict[str, InboundEvent]) -> None:
    """Hold every follower of ``events``; those a live batch writes now are waited for
    (a live batch takes seconds; a dead one's hold ends with its lease).

    Raises:
        RetriableError: a follower stayed held past :attr:`Politeness.busy_max`.
    """
    waiting = dict(events)
    waited = 0.0
    while True:
        busy = claim_followers(run.ctx.redis, run.owner, waiting)
        if not busy:
            return
        if waited >= run.polite.busy_max:
            release_followers(run.ctx.redis, run.owner, events)
            raise RetriableError(f"{len(busy)} followers stayed held by live batches for "
                                 f"{waited:.0f} s", code="FOLLOWER_BUSY")
        waiting = {k: events[k] for k in busy}
        log.info("%d followers are being written by live events: waiting for them",
                 len(busy))
        run.polite.sleep(run.polite.busy_seconds)
        waited += run.polite.busy_seconds
