"""The web chat's in-process state for one server process: rate limiters, the hub of
connected widgets, and the service context. It lives on the ASGI app's state (created on
first use, in the event loop's thread), never in module globals.

Rate limits count per source address, loopback included (as the login limiter does),
through `auth.ratelimit`'s port, so a Redis-backed limiter can replace them for a
cluster. They stop floods of sessions and messages from one address; the limits per
visitor stop one browser from flooding the agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from jietong.auth.ratelimit import InProcessRateLimiter, RateLimiter
from jietong.channels.webchat import tokens
from jietong.channels.webchat.availability import RoutingStats, RoutingView
from jietong.channels.webchat.model import ChatContext
from jietong.core.errors import RateLimited
from jietong.events.base import Envelope
from jietong.interactions.intake import ThreadingPolicy

if TYPE_CHECKING:
    from jietong.app.platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatLimits:
    # Per minute: session starts and resumes. Many visitors share one address behind an
    # office or carrier NAT, and every reconnect resumes, so this guards floods only.
    sessions_per_address: int = 120
    messages_per_address: int = 60  # per minute, all visitors behind one address
    messages_per_visitor: int = 30  # per minute
    connections_per_address: int = 60  # per minute: WebSocket handshakes
    typing_every_seconds: float = 3.0  # at most one typing notice per visitor
    # A connected widget re-reads at least this often. With several server processes
    # (Redis bus) a reply relayed by another process is only seen by this re-read; with
    # the in-process bus every event rings here, and the re-read is only a safety net.
    poll_seconds: float = 5.0
    poll_seconds_embedded: float = 30.0
    status_seconds: float = 3.0  # queue position refreshed at most this often
    hello_seconds: float = 10.0  # a WebSocket must say hello within this


@dataclass(eq=False)
class Connection:
    """One connected widget, seen from the bus thread: what it is about and how to wake
    it. Its asyncio parts are only touched through its own loop."""

    org_id: str
    visitor_id: str
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    interactions: frozenset[str] = frozenset()
    typing_agents: set[str | None] = field(default_factory=set)
    status_due: bool = True

    def ring(
        self, *, typing_agent: str | None = None, status: bool = False, typing: bool = False
    ) -> None:
        """Called from any thread: schedule a wake-up on the connection's loop."""

        def wake() -> None:
            if typing:
                self.typing_agents.add(typing_agent)
            if status:
                self.status_due = True
            self.wake.set()

        # A closed loop means the connection is going away: nothing to wake.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(wake)


class Hub:
    """Connected widgets by organisation and conversation; the bus rings them.

    The bus is only a doorbell: a rung connection re-reads its timeline from the database
    after the last number it sent, so a missed or repeated event loses and duplicates
    nothing. Connections also re-read every `poll_seconds` (events published by another
    server process do not reach this process's subscribers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_org: dict[str, set[Connection]] = {}

    def add(self, conn: Connection) -> None:
        with self._lock:
            self._by_org.setdefault(conn.org_id, set()).add(conn)

    def remove(self, conn: Connection) -> None:
        with self._lock:
            conns = self._by_org.get(conn.org_id)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._by_org[conn.org_id]

    def count(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._by_org.values())

    def on_event(self, envelope: Envelope) -> None:
        """Bus subscriber (runs in the relay's thread)."""
        with self._lock:
            conns = list(self._by_org.get(envelope.org_id, ()))
        if not conns:
            return
        payload = envelope.payload
        interaction_id = payload.get("interaction_id")
        if envelope.event_type == "QueueStatsChanged":
            for conn in conns:
                conn.ring(status=True)
            return
        for conn in conns:
            if interaction_id not in conn.interactions:
                continue
            if envelope.event_type == "ChatTypingStarted":
                if payload.get("who") == "agent":
                    conn.ring(typing=True, typing_agent=payload.get("agent_id"))
            else:
                conn.ring(status=True)


class ChatRuntime:
    def __init__(
        self,
        platform: Platform,
        *,
        limits: ChatLimits | None = None,
        routing: RoutingView | None = None,
        limiter: Callable[[int], RateLimiter] = InProcessRateLimiter,
    ) -> None:
        settings = platform.settings
        self.platform = platform
        self.limits = limits or ChatLimits()
        self.context = ChatContext(
            new_uow=platform.uow,
            submit=platform.intake.submit,
            blobs=platform.blobs,
            token_key=tokens.token_key(settings.secret()),
            default_region=settings.default_region,
            policy=ThreadingPolicy(
                open_window=timedelta(hours=settings.conversation_open_hours),
                reopen_window=timedelta(hours=settings.conversation_reopen_hours),
            ),
            routing=routing or RoutingStats(),
        )
        self.poll_seconds = (
            self.limits.poll_seconds if settings.redis_url else self.limits.poll_seconds_embedded
        )
        self.hub = Hub()
        self._sessions = limiter(self.limits.sessions_per_address)
        self._messages = limiter(self.limits.messages_per_address)
        self._visitor_messages = limiter(self.limits.messages_per_visitor)
        self._connections = limiter(self.limits.connections_per_address)
        self._unsubscribe = platform.bus.subscribe(self.hub.on_event)

    def close(self) -> None:
        self._unsubscribe()

    def session_started(self, address: str) -> None:
        _limited(self._sessions, address, "too many chat sessions from your address")

    def connected(self, address: str) -> None:
        _limited(self._connections, address, "too many chat connections from your address")

    def message_sent(self, address: str, visitor_id: str) -> None:
        _limited(self._messages, address, "too many chat messages from your address")
        _limited(self._visitor_messages, visitor_id, "too many chat messages; slow down")


def _limited(limiter: RateLimiter, key: str, detail: str) -> None:
    try:
        limiter.hit(key)
    except RateLimited as exc:
        raise RateLimited(detail, exc.retry_after_seconds) from None
