"""Group commit for inbound messages: the messages that arrive together share one
transaction and one commit (one fsync), and each sender is answered after that commit.

Why: storing a message is a few milliseconds of SQL, but its commit waits for the disk
(WAL fsync) and, on SQLite, holds the only write lock meanwhile. One transaction per
message caps intake near 1/fsync, however many callers wait. Here one writer thread takes
everything queued since its last commit (up to `max_batch`), stages each message
(`intake.stage`; a lone message in its own savepoint) and commits once.

The rules that hold (tests in tests/integration/channels/test_committer.py):

* A caller's future resolves only after the transaction holding its message committed;
  an exception is delivered only for its own message.
* A message that fails before it writes (bad input) fails alone; the others commit.
  A batch stages without savepoints and with its look-ups done in advance for all its
  messages (`intake.prefetch`), so a message failing after its first write spoils the
  transaction (`BatchSpoiled`): the batch is then redone one message at a time, each in
  its own transaction and savepoint, and only the failing message fails.
* If the commit itself fails, nothing of the batch was stored; each message is then
  retried in a transaction of its own, so a message that poisons the commit fails alone.
* Duplicates in one batch meet as in separate transactions: the later one finds the
  earlier one's row (same transaction, deferred rows flushed first) and is answered as a
  duplicate. A batch decides threading and identity exactly as one message per
  transaction would (a hypothesis test compares the two).

Callers: `submit` (a concurrent future, for asyncio via `asyncio.wrap_future`) or
`receive` (blocking). `prepare` (checks, blob files) runs in the caller's thread first, so
the writer thread only does SQL.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from jietong.core.errors import InvalidInput, RateLimited
from jietong.identity.contact_points import normalise
from jietong.interactions import intake
from jietong.interactions.intake import IntakeResult, PreparedMessage, ThreadingPolicy
from jietong.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 256
DEFAULT_MAX_PENDING = 20_000


class CommitterClosed(RuntimeError):
    """The committer was closed (server shutting down); the message was not stored."""


@dataclass(frozen=True)
class IntakeRequest:
    """One prepared message and how intake should treat it."""

    prepared: PreparedMessage
    default_region: str
    policy: ThreadingPolicy = field(default_factory=ThreadingPolicy)


@dataclass
class _Job:
    request: IntakeRequest
    future: Future[IntakeResult] = field(default_factory=Future)


@dataclass(frozen=True)
class CommitterStats:
    """Counters for benchmarks and health pages."""

    batches: int
    messages: int
    largest_batch: int
    retried_alone: int


class IntakeCommitter:
    """The one writer of inbound messages in this process (see the module docstring).

    `new_uow` opens a writable unit of work whose `now` is the batch's time. The writer
    thread starts with the first submission and stops at `close`."""

    def __init__(
        self,
        new_uow: Callable[[], UnitOfWork],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be positive")
        self._new_uow = new_uow
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._batches = 0
        self._messages = 0
        self._largest = 0
        self._retried = 0
        # Run by the writer thread after each committed batch (see `publish_after_batch`).
        self._after_batch: Callable[[], object] | None = None

    # -- callers ----------------------------------------------------------------------

    def submit(self, request: IntakeRequest) -> Future[IntakeResult]:
        """Queue `request`; the future resolves after its transaction committed.

        RateLimited (429) when `max_pending` messages already wait: a sender retries
        later rather than waiting behind a queue that cannot meet its timeout."""
        job = _Job(request)
        with self._wake:
            if self._closed:
                raise CommitterClosed("intake is shutting down")
            if len(self._queue) >= self._max_pending:
                raise RateLimited("intake is saturated; retry shortly", retry_after_seconds=1)
            self._queue.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="intake-committer", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return job.future

    def receive(self, request: IntakeRequest) -> IntakeResult:
        """Queue `request` and wait for its commit (for callers in a thread)."""
        return self.submit(request).result()

    def close(self, timeout: float = 30.0) -> None:
        """Store what is queued, then stop the writer thread; later submissions fail."""
        with self._wake:
            self._closed = True
            thread = self._thread
            self._wake.notify()
        if thread is not None:
            thread.join(timeout)

    def publish_after_batch(self, publish: Callable[[], object] | None) -> None:
        """Have the writer thread run `publish` (the outbox relay) after each batch it
        committed, before it takes the next.

        On SQLite the relay needs the same one write lock to mark events published; a
        writer that commits batch after batch takes the lock again at once, and the relay,
        waiting in SQLite's busy handler, could go seconds without it: the messages were
        stored but reached no screen. Taking turns in one thread bounds that. On
        PostgreSQL it measured faster than the relay's own thread woken by every commit
        (ADR 0012 §6). The relay's own task still runs for every other writer's events;
        a batch published here does not wake it (its commit is not announced), since it
        would only look for events already published. If `publish` fails, the task's
        poll (`outbox_poll_seconds`) finds them."""
        self._after_batch = publish

    def stats(self) -> CommitterStats:
        with self._wake:
            return CommitterStats(self._batches, self._messages, self._largest, self._retried)

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return  # closed and drained
                count = min(len(self._queue), self._max_batch)
                taken = [self._queue.popleft() for _ in range(count)]
            # A job whose caller gave up (cancelled, e.g. the HTTP client went away) was
            # never acknowledged: it is dropped, and the sender's retry stores it. From
            # here on a future cannot be cancelled, so its result always reaches it.
            batch = [job for job in taken if job.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            # Read once: the batch whose commit does not wake the relay is the one this
            # thread then publishes.
            publish = self._after_batch
            try:
                self._commit(batch, announce=publish is None)
            except BaseException as exc:  # never leave a caller waiting forever
                log.exception("intake committer failed a batch")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            if publish is not None:
                try:
                    publish()
                except Exception:  # the relay's task retries; storing must go on
                    log.exception("publishing after an intake batch failed")

    def _commit(self, batch: list[_Job], *, announce: bool = True) -> None:
        """Stage every job in one transaction and commit it; on a failed commit, retry
        each job alone (see the module docstring). `announce`: wake the relay after the
        commit (not when this thread publishes the batch itself)."""
        outcomes: list[IntakeResult | Exception] = []
        batched = len(batch) > 1
        try:
            with self._new_uow() as uow, self._deferring(uow, batched):
                stored = intake.stored_external_ids(
                    uow, [job.request.prepared.message for job in batch]
                )
                lookups = self._prefetch(uow, batch) if batched else None
                staged: set[intake.DedupeKey] = set()
                for job in batch:
                    message = job.request.prepared.message
                    key = intake.dedupe_key(message)
                    if key in staged and (first := intake.find_earlier(uow, message)):
                        outcomes.append(first)  # answered as a separate transaction would
                        continue
                    outcome = self._stage(
                        uow, job.request, known_new=key not in stored, lookups=lookups
                    )
                    if isinstance(outcome, IntakeResult):
                        staged.add(key)
                    outcomes.append(outcome)
                if any(isinstance(o, IntakeResult) and not o.duplicate for o in outcomes):
                    uow.commit(announce=announce)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.warning("intake batch of %d failed to commit; storing one by one", len(batch))
            with self._wake:
                self._retried += len(batch)
            for job in batch:
                self._commit([job], announce=announce)
            return
        with self._wake:
            self._batches += 1
            self._messages += len(batch)
            self._largest = max(self._largest, len(batch))
        for job, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    @staticmethod
    def _deferring(uow: UnitOfWork, batched: bool) -> AbstractContextManager[None]:
        """A batch inserts its messages' rows together at the commit (a failure there
        fails the batch, which is then retried one by one); a message alone is flushed
        in its savepoint, where a racing duplicate is recognised and answered."""
        return uow.deferred_inserts() if batched else nullcontext()

    @staticmethod
    def _prefetch(uow: UnitOfWork, batch: list[_Job]) -> intake.BatchLookups:
        """One query per kind of look-up for the whole batch (senders whose address is
        invalid are left out: they fail on their own when staged)."""
        senders = []
        for job in batch:
            message = job.request.prepared.message
            try:
                address = normalise(
                    message.sender.kind, message.sender.address, job.request.default_region
                )
            except InvalidInput:
                continue
            senders.append((message, address))
        return intake.prefetch(uow, senders)

    @staticmethod
    def _stage(
        uow: UnitOfWork,
        request: IntakeRequest,
        *,
        known_new: bool,
        lookups: intake.BatchLookups | None,
    ) -> IntakeResult | Exception:
        try:
            return intake.stage(
                uow,
                request.prepared,
                default_region=request.default_region,
                now=uow.now,
                policy=request.policy,
                known_new=known_new,
                lookups=lookups,
            )
        except intake.BatchSpoiled:
            raise  # the batch's transaction is unusable: it is redone one by one
        except Exception as exc:  # failed before writing, or its savepoint rolled back
            return exc
