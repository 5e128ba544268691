"""The built-in SMTP receiver (aiosmtpd): mail for the organisations' addresses.

The SMTP dialogue is the acknowledgement contract with the sending server:

- RCPT TO an address no organisation owns: 550 (the sender bounces it at once);
- more data than the configured limit: 552 (aiosmtpd counts while receiving);
- 250 after DATA only once the `MailSink` returned, i.e. after intake COMMITTED the
  message (or quarantined its bytes): a sender told 250 may forget the mail;
- any failure while storing: 451, a temporary error, so the sender queues and retries
  (the retry is de-duplicated by Message-ID).

Storage is not touched here: the sink, wired in the composition root, does that. Its
methods block (database), so they run in worker threads of the receiver's own pool, off
the SMTP event loop. The pool is large (STORE_THREADS) because a storing thread mostly
waits for the intake committer's commit: the more sessions wait together, the more
mails share one commit. (asyncio's default pool has min(32, CPUs + 4) threads: six on
two cores, which capped a commit at six mails.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 100
STORE_THREADS = 64
T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedMail:
    """One mail as the SMTP session delivered it."""

    envelope_from: str  # "" for bounces (the null reverse-path)
    recipients: tuple[str, ...]
    data: bytes
    peer: str
    received_at: datetime


class MailSink(Protocol):
    def accepts(self, address: str) -> bool:
        """Whether some organisation receives mail at `address` (plus details allowed)."""
        ...

    def store(self, mail: ReceivedMail) -> None:
        """Store `mail` durably (intake committed or quarantined) or raise. Returning
        means the receiver may answer 250."""
        ...


class SinkHandler:
    """aiosmtpd hooks that ask a `MailSink`."""

    def __init__(self, sink: MailSink, pool: ThreadPoolExecutor | None = None) -> None:
        self._sink = sink
        self._pool = pool  # None: asyncio's default pool

    async def _in_pool(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            accepted = await self._in_pool(lambda: self._sink.accepts(address))
        except Exception:
            log.exception("recipient lookup failed")
            return "451 4.3.0 Temporary failure, please try again later"
        if not accepted:
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        mail = ReceivedMail(
            envelope_from=(envelope.mail_from or "").strip().strip("<>"),
            recipients=tuple(envelope.rcpt_tos),
            data=_bytes(envelope.original_content or envelope.content),
            peer=str(session.peer[0]) if session.peer else "",
            received_at=datetime.now(UTC),
        )
        try:
            await self._in_pool(lambda: self._sink.store(mail))
        except Exception:
            # Not stored, so not acknowledged: the sending server keeps it and retries.
            log.exception("storing a received mail failed; answered 451")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 OK: message stored"


class SmtpReceiver:
    """The receiver's lifecycle: `start` binds and serves in its own thread and event
    loop (so a slow HTTP request never delays an SMTP dialogue), `stop` closes it."""

    def __init__(
        self, sink: MailSink, *, host: str, port: int, max_bytes: int, hostname: str | None = None
    ) -> None:
        self._pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="smtp-store")
        self._controller = Controller(
            SinkHandler(sink, self._pool),
            hostname=host,
            port=port,
            server_hostname=hostname,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Jietong ESMTP",
            timeout=60,
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
        self._pool.shutdown(wait=True)


def _bytes(content: Any) -> bytes:
    if isinstance(content, bytes):
        return content
    return str(content or "").encode("utf-8", "surrogateescape")
