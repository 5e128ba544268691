"""The intake writer in a process of its own (`JIETONG_INTAKE_WRITER=process`).

Why: in one process the intake writer thread and the event loop share one interpreter
lock. Each answer the writer waits for from the database hands the lock to the event
loop, and under load the writer then waits up to the 5 ms switch interval to get it back,
about 25 times per batch: measured in a loaded server, a batch's cycle took 154 ms where
the same batch alone takes 35 (ADR 0012 §8). Here the `IntakeCommitter` runs in a child
process with its own interpreter and database connections; the server sends it prepared
messages over a pipe and resolves each caller's future when the child answers, after the
commit — a 2xx still means committed.

What stays in the server: `intake.prepare` (checks, blob files) runs in the caller's
thread as before, and the bus its streams subscribe to. Given that bus (`publish_to`),
the child is also the one outbox relay: after each batch, once its answers are sent, and
when the server's relay task wakes it for other writers' events (`wake_relay`). It sends
the envelopes over the same pipe while holding the relays' lock, so the server publishes
them in publication order (on Redis the child publishes there itself). One publisher: a
second one in the server could put a later number on the bus before an earlier one still
in the pipe, and a stream resuming after the later one would miss it.

If the child exits, every message it had not answered fails with `CommitterClosed`
(its sender retries: nothing unanswered was acknowledged, and a message it did store is
then answered as a duplicate) and the next submission starts a new child.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy.orm import sessionmaker

from jietong.core.clock import utcnow
from jietong.core.errors import RateLimited
from jietong.events.base import Envelope
from jietong.events.bus import STREAM_KEY, EventBus, create_bus
from jietong.interactions.committer import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_PENDING,
    CommitterClosed,
    CommitterStats,
    IntakeCommitter,
    IntakeRequest,
)
from jietong.interactions.intake import IntakeResult
from jietong.storage.engine import create_db_engine
from jietong.storage.outbox import OutboxRelay
from jietong.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# An answer from the child: (job id, True, IntakeResult) or (job id, False, exception).
# The child sends (_ANSWERS, [answers of a batch]) and (_EVENTS, [envelopes]); the
# server sends (job id, IntakeRequest), _RELAY, or None to stop.
_Answer = tuple[int, bool, Any]
_ANSWERS = "answers"
_EVENTS = "events"
_RELAY = "relay"


class ProcessCommitter:
    """`IntakeCommitter`'s interface, its writer in a child process (module docstring).

    `publish_to`: the server's bus; the child then relays the outbox (after each batch,
    and when `wake_relay` asks) and publishes there. Without it, `after_commit` is called
    (in the answer-reading thread) after answers that stored something, or the publisher
    set with `publish_after_batch` runs."""

    def __init__(
        self,
        database_url: str,
        *,
        after_commit: Callable[[], object] | None = None,
        publish_to: EventBus | None = None,
        redis_url: str | None = None,
        stream: str = STREAM_KEY,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be positive")
        self._database_url = database_url
        self._after_commit = after_commit
        # With a bus, the child is the relay (module docstring): on Redis it publishes
        # there itself, otherwise it sends the envelopes over the pipe to `publish_to`.
        self._bus = publish_to
        self._relay_in_child = "redis" if publish_to and redis_url else "pipe" if publish_to else ""
        self._redis = (redis_url, stream)
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._state = threading.Lock()  # the fields below
        self._send = threading.Lock()  # one writer on the pipe at a time
        self._pending: dict[int, Future[IntakeResult]] = {}
        self._next_job = 0
        self._child: _Child | None = None
        self._closed = False
        self._after_batch: Callable[[], object] | None = None
        self._groups = 0
        self._messages = 0
        self._largest = 0

    # -- callers ----------------------------------------------------------------------

    def submit(self, request: IntakeRequest) -> Future[IntakeResult]:
        """Send `request` to the writer process; the future resolves after its commit.

        RateLimited (429) when `max_pending` messages already wait for an answer."""
        future: Future[IntakeResult] = Future()
        future.set_running_or_notify_cancel()  # on its way: no longer cancellable
        with self._state:
            if self._closed:
                raise CommitterClosed("intake is shutting down")
            if len(self._pending) >= self._max_pending:
                raise RateLimited("intake is saturated; retry shortly", retry_after_seconds=1)
            child = self._running_child()
            job = self._next_job
            self._next_job += 1
            self._pending[job] = future
        try:
            with self._send:
                child.conn.send((job, request))
        except (OSError, ValueError) as exc:  # the child is gone; its reader fails the rest
            with self._state:
                self._pending.pop(job, None)
            raise CommitterClosed("the intake writer process is not running") from exc
        return future

    def receive(self, request: IntakeRequest) -> IntakeResult:
        """Send `request` and wait for its commit (for callers in a thread)."""
        return self.submit(request).result()

    @property
    def relays(self) -> bool:
        """Whether the child is the outbox relay (then `wake_relay`, not the server's)."""
        return bool(self._relay_in_child)

    def wake_relay(self) -> None:
        """Have the child publish what other writers committed (the server's relay task
        calls this instead of relaying itself: one publisher keeps the order)."""
        with self._state:
            if self._closed:
                return
            child = self._running_child()
        try:
            with self._send:
                child.conn.send(_RELAY)
        except (OSError, ValueError):
            log.warning("the intake writer process is not running; it relays when restarted")

    def publish_after_batch(self, publish: Callable[[], object] | None) -> None:
        """Run `publish` (the outbox relay) in the answer-reading thread after answers
        that stored something. Ignored when the child relays (`publish_to`)."""
        if not self._relay_in_child:
            self._after_batch = publish

    def stats(self) -> CommitterStats:
        """Answers received (a group: the answers read together; `retried_alone` is not
        reported by the child and stays 0)."""
        with self._state:
            return CommitterStats(self._groups, self._messages, self._largest, 0)

    def close(self, timeout: float = 30.0) -> None:
        """Let the child store what it was sent, then stop it; later submissions fail."""
        with self._state:
            self._closed = True
            child = self._child
        if child is not None:
            self._stop(child, timeout)

    def _stop(self, child: _Child, timeout: float) -> None:
        try:
            with self._send:
                child.conn.send(None)
        except (OSError, ValueError):
            pass  # already gone
        child.process.join(timeout)
        if child.process.is_alive():
            log.error("the intake writer process did not stop in %.0f s; killing it", timeout)
            child.process.kill()
            child.process.join(5)
        child.reader.join(timeout)
        child.conn.close()

    # -- the child and its answers ----------------------------------------------------

    def _running_child(self) -> _Child:
        """The child, started if there is none or the last one exited (`_state` held)."""
        child = self._child
        if child is not None:
            # Its reader ends when the pipe closes, possibly before the process is reaped.
            if child.reader.is_alive() and child.process.is_alive():
                return child
            if child.process.is_alive():
                child.process.kill()
            child.process.join(5)
            child.conn.close()
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve,
            args=(self._database_url, theirs, self._max_batch, self._relay_in_child, self._redis),
            name="jietong-intake-writer",
            daemon=True,
        )
        process.start()
        theirs.close()
        reader = threading.Thread(
            target=self._read_answers, args=(ours,), name="intake-answers", daemon=True
        )
        self._child = _Child(process, ours, reader)
        reader.start()
        return self._child

    def _read_answers(self, conn: Connection) -> None:
        while True:
            try:
                kind, items = conn.recv()  # a batch's answers, or a relay's envelopes
            except (EOFError, OSError):
                break
            if kind == _EVENTS:
                self._publish(items)
            elif self._resolve(items) and not self._relay_in_child:
                self._after_answers()
        self._fail_pending()

    def _resolve(self, answers: list[_Answer]) -> bool:
        with self._state:
            futures = [self._pending.pop(job, None) for job, _ok, _value in answers]
            self._groups += 1
            self._messages += len(answers)
            self._largest = max(self._largest, len(answers))
        stored = False
        for future, (_job, ok, value) in zip(futures, answers, strict=True):
            if future is None:
                continue
            if ok:
                future.set_result(value)
                stored = stored or not value.duplicate
            else:
                future.set_exception(value)
        return stored

    def _publish(self, envelopes: list[Envelope]) -> None:
        try:
            if self._bus is not None:
                self._bus.publish(envelopes)
        except Exception:  # marked published by the child: streams replay them by seq
            log.exception("publishing %d relayed events failed", len(envelopes))

    def _after_answers(self) -> None:
        publish = self._after_batch
        try:
            if publish is not None:
                publish()
            elif self._after_commit is not None:
                self._after_commit()
        except Exception:  # the relay's task retries; answering must go on
            log.exception("publishing after intake answers failed")

    def _fail_pending(self) -> None:
        with self._state:
            pending, self._pending = self._pending, {}
            closing = self._closed
        if pending and not closing:
            log.error("the intake writer process exited with %d messages unanswered", len(pending))
        for future in pending.values():
            future.set_exception(CommitterClosed("the intake writer process exited"))


@dataclass(frozen=True)
class _Child:
    """A running writer process, the server's end of its pipe, and the thread reading
    its answers."""

    process: BaseProcess
    conn: Connection
    reader: threading.Thread


# -- in the child ----------------------------------------------------------------------


def serve(
    database_url: str,
    conn: Connection,
    max_batch: int,
    relay_mode: str = "",
    redis: tuple[str | None, str] = (None, STREAM_KEY),
) -> None:
    """The child's main: store what arrives on `conn` through an `IntakeCommitter`,
    answering each batch after its commit, until `None` or the pipe closes. With a
    `relay_mode` it is also the outbox relay: after each batch and when asked (`_RELAY`),
    publishing on Redis itself (`redis`) or sending the envelopes back (`pipe`)."""
    logging.basicConfig(level=logging.WARNING)
    engine = create_db_engine(database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    committer = IntakeCommitter(
        lambda: UnitOfWork(sessions, utcnow()), max_batch=max_batch, max_pending=1 << 30
    )
    sending = threading.Lock()
    answered: list[_Answer] = []  # by the writer thread, sent after its batch

    def send(kind: str, items: list[Any]) -> None:
        try:
            with sending:
                conn.send((kind, items))
        except (OSError, ValueError):
            log.warning("the server went away; %d %s not delivered", len(items), kind)
            if kind == _EVENTS:
                raise  # the relay's transaction rolls back: published again later

    bus: EventBus | None = None
    if relay_mode == "redis":
        bus = create_bus(*redis)
    elif relay_mode == "pipe":
        bus = _PipeBus(functools.partial(send, _EVENTS))
    relay = OutboxRelay(sessions, bus, utcnow) if bus is not None else None

    def answer(job: int, future: Future[IntakeResult]) -> None:
        error = future.exception()
        item = (job, True, future.result()) if error is None else (job, False, portable(error))
        if threading.current_thread() is threading.main_thread():
            send(_ANSWERS, [item])  # done before its callback was added: no batch sends it
        else:
            answered.append(item)

    def after_batch() -> None:
        # One message per batch: each receive costs the server's reading thread a wait
        # for the interpreter lock, as each database answer cost the writer.
        if answered:
            batch = answered.copy()
            answered.clear()
            send(_ANSWERS, batch)
        if relay is not None:
            relay.relay_all()  # after the answers: acknowledging does not wait for it

    committer.publish_after_batch(after_batch)

    try:
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError):
                break
            if item is None:
                break
            if item == _RELAY:
                if relay is not None:
                    try:
                        relay.relay_pending()
                    except Exception:  # the next wake or batch retries
                        log.exception("relaying the outbox failed")
                continue
            job, request = item
            committer.submit(request).add_done_callback(functools.partial(answer, job))
    finally:
        committer.close()  # stores and answers what was sent, then stops
        if bus is not None:
            bus.close()
        engine.dispose()


class _PipeBus:
    """The child's bus: envelopes go over the pipe to the server's bus. Sent while the
    relay holds its lock, so the server receives them in publication order."""

    def __init__(self, send: Callable[[list[Any]], None]) -> None:
        self._send = send

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        self._send(list(envelopes))

    def subscribe(self, handler: Callable[[Envelope], None]) -> Callable[[], None]:
        raise NotImplementedError("the writer process only publishes")

    def close(self) -> None:
        pass


def portable(error: BaseException) -> BaseException:
    """`error` if it survives the trip through the pipe, else a RuntimeError naming it
    (an exception whose constructor takes other arguments than it stores cannot be
    unpickled, and the server must still answer the sender)."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (bytes it pickled itself)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
