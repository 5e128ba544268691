"""Running the email channel inside the server: the SMTP receiver, one IMAP poller per
polled mailbox, and the wiring of both to intake.

Both follow the organisations' email accounts: `refresh` (at start-up, then every
`email_accounts_refresh_seconds`) starts the SMTP receiver while some enabled account
receives through it (the demo organisation has one), and starts, restarts (settings
changed) or stops pollers as IMAP accounts come, change and go. With no email account
configured nothing listens and nothing polls.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from jietong.channels.accounts import to_channel_account
from jietong.channels.email import config, imap_in, service
from jietong.channels.email import store as email_store
from jietong.channels.email.adapter import EmailAdapter
from jietong.channels.email.smtp_in import ReceivedMail, SmtpReceiver
from jietong.core.ids import new_id
from jietong.storage.secretbox import UndecryptableSecret
from jietong.storage.tables import QueueRow
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from jietong.app.platform import Platform
    from jietong.app.settings import Settings

log = logging.getLogger(__name__)


def email_adapter(settings: Settings) -> EmailAdapter:
    """The "email" channel adapter for the registry (see `channels_runtime`)."""
    return EmailAdapter(settings.secret)


DEMO_ADDRESS = "support@demo.jietong.example"


def add_demo_email_account(platform: Platform, org_id: str) -> None:
    """The demo organisation receives mail at DEMO_ADDRESS through the built-in SMTP
    receiver, routed to its first queue that takes email. No relay: the demo machine
    reaches no mail server, so replies show as failed deliveries, which is the truth."""
    with platform.uow() as uow:
        queue = uow.session.scalar(
            select(QueueRow).where(QueueRow.org_id == org_id).order_by(QueueRow.id)
        )
        uow.session.add(
            ChannelAccountRow(
                id=new_id(),
                org_id=org_id,
                channel="email",
                name="Demo support mailbox",
                provider=config.RECEIVER,
                address=DEMO_ADDRESS,
                queue_id=None if queue is None else queue.id,
                settings={"display_name": "接通演示 Demo Support"},
                secrets={},
                enabled=True,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
        uow.commit()


def mail_context(platform: Platform) -> service.MailContext:
    settings = platform.settings
    return service.MailContext(
        new_uow=platform.uow,
        read_uow=platform.read_uow,
        submit=platform.intake.submit,
        clock=platform.clock,
        blobs=platform.blobs,
        secret=settings.secret(),
        default_region=settings.default_region,
        max_attachment_bytes=settings.max_attachment_bytes,
        record_bounce=record_bounce,
    )


def record_bounce(
    uow: UnitOfWork, org_id: str, message_id: str, summary: str, now: datetime
) -> None:
    """A delivery-status notification: the delivery that sent `message_id` failed."""
    from jietong.channels.deliveries import record_provider_status

    record_provider_status(
        uow,
        org_id,
        "email",
        message_id,
        delivered=False,
        provider_status="bounced",
        error=f"bounced: {summary}",
        now=now,
    )


class PlatformMailSink:
    """The SMTP receiver's sink: recipients are email accounts, storing is intake."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._context = mail_context(platform)

    def accepts(self, address: str) -> bool:
        return service.accepts(self._context, address)

    def store(self, mail: ReceivedMail) -> None:
        service.receive_delivery(
            self._context, mail.data, mail.recipients, envelope_from=mail.envelope_from
        )


class DbPositions:
    """An IMAP folder's read position, in `email_mailbox_positions`."""

    def __init__(self, platform: Platform, account: ChannelAccountRow, folder: str) -> None:
        self._platform = platform
        self._account = account
        self._folder = folder

    def load(self) -> imap_in.Position | None:
        with self._platform.uow() as uow:
            found = service.load_position(uow, self._account.id, self._folder)
        return None if found is None else imap_in.Position(*found)

    def save(self, position: imap_in.Position) -> None:
        with self._platform.uow() as uow:
            service.save_position(
                uow, self._account, self._folder, position.uidvalidity, position.last_uid
            )


@dataclass
class _Poller:
    version: datetime
    stop: threading.Event
    thread: threading.Thread


class EmailRuntime:
    """The email channel's background work for one server process."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._receiver: SmtpReceiver | None = None
        self._pollers: dict[str, _Poller] = {}
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self.refresh()
        self._supervisor = threading.Thread(
            target=self._supervise, name="email-accounts", daemon=True
        )
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(10)
        for account_id in list(self._pollers):
            self._stop_poller(account_id)
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None

    @property
    def receiver(self) -> SmtpReceiver | None:
        return self._receiver

    def refresh(self) -> None:
        """Match the receiver and the pollers to the accounts now configured."""
        try:
            with self._platform.uow() as uow:
                receiving = email_store.polled_accounts(uow.session, config.RECEIVER)
                polled = email_store.polled_accounts(uow.session, config.IMAP)
        except Exception:
            log.exception("reading email accounts failed")
            return
        self._match_receiver(bool(receiving))
        self._match_pollers(polled)

    def _supervise(self) -> None:
        interval = self._platform.settings.email_accounts_refresh_seconds
        while not self._stop.wait(interval):
            self.refresh()

    def _match_receiver(self, wanted: bool) -> None:
        settings = self._platform.settings
        if not wanted or not settings.smtp_enabled or self._receiver is not None:
            return
        receiver = SmtpReceiver(
            PlatformMailSink(self._platform),
            host=settings.smtp_host,
            port=settings.smtp_port,
            max_bytes=settings.smtp_max_message_bytes,
        )
        try:
            receiver.start()
        except Exception:
            # Another process holds the port (a second server on this machine): the
            # HTTP side keeps working; the log says why mail is not received here.
            log.exception(
                "SMTP receiver could not listen on %s:%s", settings.smtp_host, settings.smtp_port
            )
            return
        log.info("SMTP receiver listening on %s:%s", settings.smtp_host, receiver.port)
        self._receiver = receiver

    def _match_pollers(self, accounts: list[ChannelAccountRow]) -> None:
        current = {a.id: a for a in accounts}
        for account_id in list(self._pollers):
            account = current.get(account_id)
            if account is None or account.updated_at != self._pollers[account_id].version:
                self._stop_poller(account_id)
        for account in accounts:
            if account.id not in self._pollers:
                self._start_poller(account)

    def _start_poller(self, account: ChannelAccountRow) -> None:
        try:
            mailbox = config.mailbox_of(to_channel_account(account, self._platform.secret_box))
        except config.InvalidAccount as exc:
            log.warning("email account %s cannot be polled: %s", account.id, exc)
            return
        except UndecryptableSecret as exc:  # names the account, never the value
            log.error("email account %s cannot be polled: %s", account.id, exc)
            return
        recipient = service.Recipient(
            address=(account.address or "").lower(),
            account_id=account.id,
            org_id=account.org_id,
            queue_id=account.queue_id,
        )
        deliver = service.mailbox_delivery(mail_context(self._platform), recipient)
        stop = threading.Event()
        thread = threading.Thread(
            target=imap_in.run,
            args=(mailbox, DbPositions(self._platform, account, mailbox.folder), deliver, stop),
            kwargs={"poll_seconds": self._platform.settings.email_poll_seconds},
            name=f"imap-{account.id}",
            daemon=True,
        )
        thread.start()
        self._pollers[account.id] = _Poller(account.updated_at, stop, thread)

    def _stop_poller(self, account_id: str) -> None:
        poller = self._pollers.pop(account_id)
        poller.stop.set()
        with contextlib.suppress(RuntimeError):
            poller.thread.join(5)
