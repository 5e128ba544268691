"""Polling an existing mailbox over IMAP, with IDLE where the server offers it.

Nothing is read twice or skipped: the position in a folder is (UIDVALIDITY, last UID
stored). Each message is fetched with BODY.PEEK[] (which leaves it unread), handed to
`deliver` (which returns only once intake committed it, or quarantined it), then the
position is saved, and only then is the message flagged \\Seen (or moved). A crash
between two steps re-reads the message next time, and intake's de-duplication on the
Message-ID keeps it single.

`deliver` takes one mail at a time; wrapped in `AllAtOnce` it takes each fetched group
(up to FETCH_BATCH) together, so that the group shares the intake committer's commits,
and reports per mail whether it was stored. The position then moves past the longest
stored prefix of the group (one save, one flag or move command); the first failure
stops the catch-up there, and mail after it that was stored meanwhile is read again
next time and recognised as a duplicate. A new UIDVALIDITY (the folder was rebuilt) starts over
from the first message, for the same reason safely.

Blocking (imapclient): each mailbox runs in its own thread, so one slow or broken
server never holds up another.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]

from jietong.channels.email.smtp_out import Security

log = logging.getLogger(__name__)
SEEN = b"\\Seen"
FETCH_BATCH = 25
IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE before servers' 30-minute timeout


@dataclass(frozen=True)
class Mailbox:
    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = Security.TLS
    folder: str = "INBOX"
    move_to: str | None = None  # move processed mail there instead of flagging it \Seen
    timeout: float = 60.0


@dataclass(frozen=True)
class Position:
    """Where reading a folder stands: its UIDVALIDITY and the last UID stored."""

    uidvalidity: int
    last_uid: int


class PositionStore(Protocol):
    def load(self) -> Position | None:
        """The saved position of this mailbox's folder, or None before the first read."""
        ...

    def save(self, position: Position) -> None:
        """Save durably (committed) before the message is flagged or moved."""
        ...


Deliver = Callable[[bytes], None]  # store one raw mail durably, or raise to retry later
# Store a group of raw mails; per mail, in order, None once stored durably, else the error.
DeliverAll = Callable[[Sequence[bytes]], Sequence[Exception | None]]


@dataclass(frozen=True)
class AllAtOnce:
    """A delivery that takes each fetched group of mails at once (see the module
    docstring); its answer must have one entry per mail given."""

    deliver_all: DeliverAll


def connect(mailbox: Mailbox) -> IMAPClient:
    """A logged-in client. TLS certificates are verified; with
    STARTTLS configured, a server without it is refused (no plain-text fall-back)."""
    context = ssl.create_default_context()
    client = IMAPClient(
        mailbox.host,
        port=mailbox.port,
        ssl=mailbox.security is Security.TLS,
        ssl_context=context if mailbox.security is Security.TLS else None,
        timeout=mailbox.timeout,
    )
    try:
        if mailbox.security is Security.STARTTLS:
            client.starttls(context)
        client.login(mailbox.username, mailbox.password)
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return client


def catch_up(
    client: IMAPClient, mailbox: Mailbox, positions: PositionStore, deliver: Deliver | AllAtOnce
) -> int:
    """Store every message after the saved position; returns how many were stored.
    An exception from `deliver` stops here, with the position at the last stored mail."""
    uidvalidity = _select(client, mailbox.folder)
    saved = positions.load()
    last = saved.last_uid if saved is not None and saved.uidvalidity == uidvalidity else 0
    if saved is not None and saved.uidvalidity != uidvalidity:
        log.warning("UIDVALIDITY of %s changed; reading it again from the start", mailbox.folder)
    stored = 0
    for batch in _batches(_new_uids(client, last)):
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        found = [(uid, fetched.get(uid, {}).get(b"BODY[]")) for uid in batch]
        for group in _groups(found, deliver):
            stored += _deliver_group(client, mailbox, positions, uidvalidity, group, deliver)
    return stored


def _groups(
    found: list[tuple[int, object]], deliver: Deliver | AllAtOnce
) -> list[list[tuple[int, object]]]:
    if isinstance(deliver, AllAtOnce):
        return [found]
    return [[item] for item in found]


def _deliver_group(
    client: IMAPClient,
    mailbox: Mailbox,
    positions: PositionStore,
    uidvalidity: int,
    group: list[tuple[int, object]],
    deliver: Deliver | AllAtOnce,
) -> int:
    """Deliver one group; save the position past its stored prefix and mark that prefix
    done; raise the first failure. A UID without a body (expunged meanwhile) is passed."""
    raws = [raw for _uid, raw in group if isinstance(raw, bytes)]
    errors = _deliver_all(deliver, raws)
    done: list[int] = []
    failure: Exception | None = None
    answers = iter(errors)
    for uid, raw in group:
        if isinstance(raw, bytes):
            failure = next(answers)
            if failure is not None:
                break
        done.append(uid)
    if done:
        positions.save(Position(uidvalidity, done[-1]))
        _mark_done(client, mailbox, done)
    if failure is not None:
        raise failure
    return len(raws)


def _deliver_all(deliver: Deliver | AllAtOnce, raws: list[bytes]) -> list[Exception | None]:
    if isinstance(deliver, AllAtOnce):
        errors = list(deliver.deliver_all(raws))
        if len(errors) != len(raws):
            raise RuntimeError(f"delivery answered {len(errors)} of {len(raws)} mails")
        return errors
    for raw in raws:  # a group of one: a failure propagates as it is
        deliver(raw)
    return [None] * len(raws)


def wait_for_news(
    client: IMAPClient, stop: threading.Event, *, idle_seconds: float, poll_seconds: float
) -> None:
    """Return when new mail may have arrived: at once on an IDLE notification, else after
    `poll_seconds` (servers without IDLE) or `idle_seconds` (IDLE renewal), or on stop."""
    if not client.has_capability("IDLE"):
        stop.wait(poll_seconds)
        return
    client.idle()
    try:
        deadline = time.monotonic() + min(idle_seconds, IDLE_RENEW_SECONDS)
        while not stop.is_set() and time.monotonic() < deadline:
            responses = client.idle_check(timeout=1)
            if any(_announces_mail(r) for r in responses):
                return
    finally:
        client.idle_done()


def run(
    mailbox: Mailbox,
    positions: PositionStore,
    deliver: Deliver | AllAtOnce,
    stop: threading.Event,
    *,
    idle_seconds: float = 300.0,
    poll_seconds: float = 60.0,
    retry_seconds: float = 30.0,
) -> None:
    """Read the mailbox until `stop` is set: catch up, wait for news, repeat. Errors
    (server down, a mail that could not be stored) are logged and retried later."""
    while not stop.is_set():
        try:
            with _session(mailbox) as client:
                while not stop.is_set():
                    catch_up(client, mailbox, positions, deliver)
                    wait_for_news(
                        client, stop, idle_seconds=idle_seconds, poll_seconds=poll_seconds
                    )
        except Exception:
            log.exception("IMAP mailbox %s@%s failed; retrying", mailbox.username, mailbox.host)
            stop.wait(retry_seconds)


@contextlib.contextmanager
def _session(mailbox: Mailbox) -> Iterator[IMAPClient]:
    client = connect(mailbox)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def _select(client: IMAPClient, folder: str) -> int:
    """Select `folder` afresh (so the view is current) and return its UIDVALIDITY."""
    value = client.select_folder(folder).get(b"UIDVALIDITY")
    if not isinstance(value, int):
        raise IMAPClientError(f"the server reported no UIDVALIDITY for {folder}")
    return value


def _new_uids(client: IMAPClient, last: int) -> list[int]:
    # "UID n:*" always matches the highest UID, even when it is below n: filter.
    found = client.search(["UID", f"{last + 1}:*"])
    return sorted(uid for uid in found if isinstance(uid, int) and uid > last)


def _batches(uids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(uids), FETCH_BATCH):
        yield uids[start : start + FETCH_BATCH]


def _mark_done(client: IMAPClient, mailbox: Mailbox, uids: list[int]) -> None:
    if mailbox.move_to:
        client.move(uids, mailbox.move_to)
    else:
        client.add_flags(uids, [SEEN], silent=True)


def _announces_mail(response: object) -> bool:
    return (
        isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
    )
