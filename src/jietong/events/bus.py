"""The event bus port and its two backends.

In-process (embedded default): subscribers are called synchronously in publish order,
with the relay's envelopes as they are. Those are built from the outbox rows, so every
payload has already been through JSON (stored and read back): the embedded mode cannot
rely on anything Redis would not carry. (A second JSON round trip per event here cost
about 5% of a loaded server's time.) Subscribers must not change an envelope's payload:
the next subscriber gets the same one. Redis Streams (scale-out): one stream, XADD per
event.

Delivery is at least once: the outbox relay may publish an event again if it crashes
after publishing and before marking it. Consumers dedupe on `event_id`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from jietong.events.base import Envelope

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], None]
Unsubscribe = Callable[[], None]
STREAM_KEY = "jietong:events"


class EventBus(Protocol):
    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver `envelopes` in order; raise if they could not be handed over durably."""
        ...

    def subscribe(self, handler: Handler) -> Unsubscribe:
        """Call `handler` for every envelope published by this process from now on;
        calling the returned function stops it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for envelope in envelopes:
            for handler in handlers:
                _call_safely(handler, envelope)

    def subscribe(self, handler: Handler) -> Unsubscribe:
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            self._handlers.clear()


class RedisStreamBus:
    """Publishes to a Redis stream; local subscribers are also called after XADD succeeds."""

    def __init__(self, url: str, *, stream: str = STREAM_KEY, maxlen: int = 1_000_000) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._stream = stream
        self._maxlen = maxlen
        self._local = InProcessBus()

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        pipe = self._redis.pipeline(transaction=True)
        for envelope in envelopes:
            pipe.xadd(
                self._stream,
                {"event_id": envelope.event_id, "envelope": envelope.to_json()},
                maxlen=self._maxlen,
                approximate=True,
            )
        pipe.execute()
        self._local.publish(envelopes)

    def subscribe(self, handler: Handler) -> Unsubscribe:
        return self._local.subscribe(handler)

    def read_all(self, count: int = 10_000) -> list[Envelope]:
        """Every envelope currently in the stream, oldest first (tools and tests)."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = self._redis.xrange(  # type: ignore[assignment]
            self._stream, count=count
        )
        return [Envelope.from_json(fields[b"envelope"]) for _id, fields in entries]

    def close(self) -> None:
        self._local.close()
        self._redis.close()


def _call_safely(handler: Handler, envelope: Envelope) -> None:
    # One failing subscriber must not stop delivery to the others nor fail the relay.
    try:
        handler(envelope)
    except Exception:
        log.exception("event handler %r failed on %s", handler, envelope.event_type)


def create_bus(redis_url: str | None, stream: str = STREAM_KEY) -> EventBus:
    return RedisStreamBus(redis_url, stream=stream) if redis_url else InProcessBus()
