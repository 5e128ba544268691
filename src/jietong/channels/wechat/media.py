"""Fetching what followers send as files (images, voice, video) from WeChat.

A push names a file by MediaId only, and WeChat wants 'success' within five seconds, so
the push is stored and acknowledged first and the file fetched afterwards through
/cgi-bin/media/get. Each file has a durable to-do row (`wechat_media_fetches`):

- it is created when the worker hears the message's `InboundMessageReceived`, and a sweep
  creates any that a restart made it miss (WeChat keeps files three days, so the sweep
  looks back that far);
- a due row is leased (its next attempt pushed past the fetch), fetched without holding
  a transaction, then stored as an attachment of the message in the same transaction
  that marks the row done;
- failures retry with backoff; a file that is gone (invalid media_id, older than three
  days), too large, or still failing after the last attempt is marked failed and an
  internal note in the conversation says so. Nothing disappears silently.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from jietong.channels import store
from jietong.channels.accounts import to_channel_account
from jietong.channels.wechat import wire
from jietong.channels.wechat.adapter import MediaFetchError, WeChatAdapter
from jietong.core.tenancy import system_actor
from jietong.events.base import Envelope
from jietong.interactions import service as interactions
from jietong.interactions.attachments import store_attachment
from jietong.interactions.model import AuthorKind, Direction
from jietong.interactions.schemas import MessageCreate
from jietong.storage.tables_channels import MessageSourceRow
from jietong.storage.tables_wechat import WeChatMediaFetchRow
from jietong.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from jietong.app.platform import Platform

log = logging.getLogger(__name__)

MEDIA_LIFETIME = timedelta(days=3)  # WeChat deletes a follower's file after three days


@dataclass(frozen=True)
class FetchPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(minutes=15)
    lease: timedelta = timedelta(minutes=2)
    sweep_every: timedelta = timedelta(minutes=5)

    def backoff(self, attempts: int) -> timedelta:
        return min(self.base * (1 << min(max(attempts - 1, 0), 20)), self.cap)


@dataclass(frozen=True)
class _Job:
    message_id: str
    org_id: str
    interaction_id: str
    account_id: str | None
    media_id: str
    kind: str
    attempts: int
    created_at: datetime


class WeChatMediaFetcher:
    """A channel background job (see `app.channels_runtime`): `on_event` hears new
    messages, `run_once` fetches what is due and returns how many it tried."""

    def __init__(self, platform: Platform, *, policy: FetchPolicy | None = None, batch: int = 10):
        self._platform = platform
        self._policy = policy or FetchPolicy()
        self._batch = batch
        self._heard: set[str] = set()
        self._lock = threading.Lock()
        self._last_sweep: datetime | None = None

    def on_event(self, envelope: Envelope) -> bool:
        """True when the event brought work (the worker then wakes at once)."""
        payload = envelope.payload
        if envelope.event_type != "InboundMessageReceived" or payload.get("channel") != "wechat":
            return False
        with self._lock:
            self._heard.add(str(payload["message_id"]))
        return True

    def run_once(self) -> int:
        with self._lock:
            heard, self._heard = self._heard, set()
        with self._platform.uow() as uow:
            register(uow, heard)
            if self._last_sweep is None or uow.now - self._last_sweep >= self._policy.sweep_every:
                sweep(uow, now=uow.now)
                self._last_sweep = uow.now
            jobs = claim_due(uow, now=uow.now, policy=self._policy, limit=self._batch)
        for job in jobs:
            self._attempt(job)
        return len(jobs)

    def _attempt(self, job: _Job) -> None:
        platform = self._platform
        adapter = platform.channels.find(wire.CHANNEL)
        try:
            if not isinstance(adapter, WeChatAdapter):
                raise MediaFetchError("no WeChat adapter is registered", retryable=False)
            with platform.uow() as uow:
                row = store.find_account(uow.session, job.account_id or "", org_id=job.org_id)
                account = None if row is None else to_channel_account(row, uow.secrets)
            if account is None:
                raise MediaFetchError("the WeChat account is gone", retryable=False)
            media = adapter.fetch_media(
                account, job.media_id, max_bytes=platform.settings.max_attachment_bytes
            )
        except MediaFetchError as exc:
            with platform.uow() as uow:
                record_failure(uow, job, str(exc), retryable=exc.retryable, policy=self._policy)
            return
        except Exception as exc:
            # A bug here must not lose the file: the row stays pending and is retried.
            log.exception("fetching WeChat media for message %s failed", job.message_id)
            with platform.uow() as uow:
                record_failure(
                    uow, job, f"{type(exc).__name__}", retryable=True, policy=self._policy
                )
            return
        with platform.uow() as uow:
            store_media(uow, platform, job, media)


def register(uow: UnitOfWork, message_ids: set[str]) -> int:
    """To-do rows for the messages named that carry a MediaId; returns how many are new."""
    if not message_ids:
        return 0
    sources = uow.session.scalars(
        select(MessageSourceRow).where(
            MessageSourceRow.message_id.in_(sorted(message_ids)),
            MessageSourceRow.channel == wire.CHANNEL,
        )
    )
    return _create(uow, list(sources))


def sweep(uow: UnitOfWork, *, now: datetime, limit: int = 500) -> int:
    """To-do rows for recent media messages that have none (heard by no worker: the
    process stopped between the push and the event)."""
    missing = uow.session.scalars(
        select(MessageSourceRow)
        .outerjoin(
            WeChatMediaFetchRow, WeChatMediaFetchRow.message_id == MessageSourceRow.message_id
        )
        .where(
            MessageSourceRow.channel == wire.CHANNEL,
            MessageSourceRow.received_at >= now - MEDIA_LIFETIME,
            MessageSourceRow.extra["media_id"].as_string().is_not(None),
            WeChatMediaFetchRow.message_id.is_(None),
        )
        .limit(limit)
    )
    return _create(uow, list(missing))


def _create(uow: UnitOfWork, sources: list[MessageSourceRow]) -> int:
    created = 0
    for source in sources:
        media_id = str(source.extra.get("media_id") or "")
        kind = media_kind(source.extra)
        if not media_id or kind is None:
            continue
        if uow.session.get(WeChatMediaFetchRow, source.message_id) is not None:
            continue
        uow.session.add(
            WeChatMediaFetchRow(
                message_id=source.message_id,
                org_id=source.org_id,
                interaction_id=source.interaction_id,
                account_id=source.account_id,
                media_id=media_id[:200],
                kind=kind,
                state="pending",
                attempts=0,
                next_attempt_at=uow.now,
                last_error=None,
                attachment_id=None,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
        created += 1
    uow.commit()
    return created


def media_kind(extra: dict[str, object]) -> str | None:
    """The push's MsgType for a file worth fetching, else None."""
    kind = str(extra.get("msg_type") or ("image" if extra.get("pic_url") else ""))
    return kind if kind in wire.MEDIA_KINDS else None


def claim_due(uow: UnitOfWork, *, now: datetime, policy: FetchPolicy, limit: int) -> list[_Job]:
    rows = list(
        uow.session.scalars(
            select(WeChatMediaFetchRow)
            .where(
                WeChatMediaFetchRow.state == "pending", WeChatMediaFetchRow.next_attempt_at <= now
            )
            .order_by(WeChatMediaFetchRow.next_attempt_at)
            .limit(limit)
        )
    )
    jobs = []
    for row in rows:
        row.next_attempt_at = now + policy.lease  # another worker leaves it alone meanwhile
        jobs.append(
            _Job(
                row.message_id,
                row.org_id,
                row.interaction_id,
                row.account_id,
                row.media_id,
                row.kind,
                row.attempts,
                row.created_at,
            )
        )
    uow.commit()
    return jobs


def store_media(uow: UnitOfWork, platform: Platform, job: _Job, media: wire.MediaFile) -> None:
    row = uow.session.get(WeChatMediaFetchRow, job.message_id)
    if row is None or row.state != "pending":
        return  # done by another worker, or the message was deleted
    row.state = "done"
    row.attempts += 1
    row.updated_at = uow.now
    stored = store_attachment(
        uow,
        system_actor(job.org_id),
        platform.blobs,
        job.interaction_id,
        filename=media.filename or default_filename(job, media.content_type),
        data=media.data,
        declared_content_type=media.content_type,
        message_id=job.message_id,
        max_bytes=platform.settings.max_attachment_bytes,
    )  # commits the attachment and the row's new state together
    row.attachment_id = stored.id
    uow.commit()


def record_failure(
    uow: UnitOfWork, job: _Job, error: str, *, retryable: bool, policy: FetchPolicy
) -> None:
    row = uow.session.get(WeChatMediaFetchRow, job.message_id)
    if row is None or row.state != "pending":
        return
    row.attempts += 1
    row.last_error = error[:1000]
    row.updated_at = uow.now
    expired = uow.now - job.created_at >= MEDIA_LIFETIME
    if retryable and row.attempts < policy.max_attempts and not expired:
        row.next_attempt_at = uow.now + policy.backoff(row.attempts)
        uow.commit()
        return
    row.state = "failed"
    # The agent reading the conversation must learn that a file was sent and is missing.
    interactions.add_message(
        uow,
        system_actor(job.org_id),
        job.interaction_id,
        MessageCreate(
            body_text=f"The customer's WeChat {job.kind} could not be fetched: {error}"[:2000],
            internal=True,
            direction=Direction.OUTBOUND,
            author_kind=AuthorKind.SYSTEM,
        ),
    )  # commits the note and the failed state together


def default_filename(job: _Job, content_type: str | None) -> str:
    extension = mimetypes.guess_extension(content_type or "") or ""
    return f"wechat-{job.kind}-{job.media_id[:40]}{extension}"
