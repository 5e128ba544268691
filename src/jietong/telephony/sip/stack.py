"""sippy, wrapped: its reactor in a thread of its own, with our two fixes.

sippy (2.5.0, pinned) keeps a process-wide event dispatcher (``ED2``) whose timers must be
armed from the thread that runs it, so everything that touches sippy objects runs on the
reactor thread; other threads hand work over with `Reactor.call` (``ED2.callFromThread``).
The asyncio side of the bridge is `asyncio.run_coroutine_threadsafe` /
``loop.call_soon_threadsafe``, used by `SipSignaling`.

The two findings of issue 6, each fixed here and covered by a regression test:

1. Udp_server starts three sender threads by default that take datagrams from one queue;
   replies of one transaction may then leave out of order (a 100 Trying after the 200
   OK, which a UAC takes as a protocol error). `OneWorkerOpts` keeps a single sender.
2. sippy compares the Contact's ``transport=`` parameter case-sensitively against
   ``udp`` when it sends in-dialog requests; SIPp writes ``transport=UDP`` and our BYE
   toward it failed. `NormalisingTransactionManager` lowercases it on every message
   received, before the dialog remembers the Contact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

# Imported at module import (normally the main thread): sippy's dispatcher installs a
# signal handler when it is created, which only the main thread may do.
from sippy.Core.EventDispatcher import ED2  # type: ignore[import-untyped]
from sippy.SipConf import SipConf  # type: ignore[import-untyped]
from sippy.SipTransactionManager import SipTransactionManager  # type: ignore[import-untyped]
from sippy.Udp_server import Udp_server, Udp_server_opts  # type: ignore[import-untyped]

log = logging.getLogger("jietong.sip")

RequestCallback = Callable[[Any, Any], Any]


class OneWorkerOpts(Udp_server_opts):  # type: ignore[misc]
    """One sender thread (and one receiver): datagrams leave in the order they were
    queued, so a 100 Trying never follows the 200 OK of the same INVITE."""

    nworkers = 1


def normalise_contacts(msg: Any) -> None:
    """Lowercase ``transport=`` in every Contact of `msg` (RFC 3261 19.1.4: URI
    parameters compare case-insensitively; sippy's string compare does not)."""
    for body in msg.getHFBodys("contact"):
        if getattr(body, "asterisk", False):
            continue
        url = body.getUrl()
        transport = url.transport
        if isinstance(transport, str) and transport != transport.lower():
            url.transport = transport.lower()


class NormalisingTransactionManager(SipTransactionManager):  # type: ignore[misc]
    """sippy's transaction manager with one sender worker and Contact transports
    normalised before any transaction or dialog sees the message."""

    model_udp_server = (Udp_server, OneWorkerOpts)

    def incomingRequest(self, msg: Any, checksum: Any, tids: Any, server: Any) -> None:  # noqa: N802
        normalise_contacts(msg)
        super().incomingRequest(msg, checksum, tids, server)

    def incomingResponse(self, msg: Any, t: Any, checksum: Any) -> None:  # noqa: N802
        normalise_contacts(msg)
        super().incomingResponse(msg, t, checksum)


class _Logger:
    """sippy's logger interface: every message in and out, to our log at DEBUG only
    (formatting a datagram per message costs real CPU at 150 calls/s)."""

    def write(self, *args: Any, **kwargs: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", "".join(str(a) for a in args))


class Reactor:
    """sippy's dispatcher running in its own thread, with one transaction manager bound
    to ``host:port``. Only one per process: sippy's dispatcher is a singleton."""

    _running_lock = threading.Lock()
    _running = False

    def __init__(self, host: str, port: int, public_host: str, user_agent: str) -> None:
        self.host = host
        self.port = port
        self.public_host = public_host
        self.user_agent = user_agent
        self.tm: Any = None
        self.global_config: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, on_request: RequestCallback) -> None:
        with Reactor._running_lock:
            if Reactor._running:
                raise RuntimeError("a SIP reactor already runs in this process")
            Reactor._running = True
        self._thread = threading.Thread(
            target=self._run, args=(on_request,), name="sip-reactor", daemon=True
        )
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or self.tm is None:
            Reactor._running = False
            raise RuntimeError(f"SIP listener did not start: {self._error}")

    def _run(self, on_request: RequestCallback) -> None:
        ED2.my_ident = threading.get_ident()  # timers are armed from this thread
        try:
            SipConf.my_address = self.public_host
            SipConf.my_port = self.port
            SipConf.my_uaname = self.user_agent
            self.global_config.update(
                _sip_address=self.host, _sip_port=self.port, _sip_logger=_Logger()
            )
            self.tm = NormalisingTransactionManager(self.global_config, on_request)
            self.global_config["_sip_tm"] = self.tm
            if self.port == 0:
                bound = next(iter(self.tm.l4r.cache_l2s.values())).uopts.laddress
                self.port = int(bound[1])
                SipConf.my_port = self.port
                self.global_config["_sip_port"] = self.port
        except BaseException as exc:  # reported to start(), which raises
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            ED2.loop()
        except Exception:
            log.exception("SIP reactor stopped on an error")

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the reactor thread (fire and forget; errors are logged
        by sippy's dispatcher)."""
        ED2.callFromThread(fn, *args)

    def stop(self) -> None:
        if self._thread is None:
            return

        def shutdown() -> None:
            try:
                if self.tm is not None:
                    if self.tm.cp_timer is not None:
                        self.tm.cp_timer.cancel()
                    self.tm.shutdown()
            finally:
                ED2.breakLoop()

        self.call(shutdown)
        self._thread.join(10)
        self._thread = None
        # Timers of this reactor's dialogs may still sit in the singleton's heap; they
        # would fire on dead objects when another reactor starts in this process.
        ED2.tlisteners = []
        ED2.twasted = 0
        with Reactor._running_lock:
            Reactor._running = False
