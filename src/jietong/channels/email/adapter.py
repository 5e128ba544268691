"""The email channel adapter: sends an `OutboundMessage` as a threaded mail through the
SMTP relay of the account the conversation came in on.

Threading data comes from the delivery's `thread` mapping, filled by the core from
the conversation's latest inbound message: "in_reply_to" and "references" (Message-
IDs), "subject"; when only "thread_key" is there (the conversation's root Message-ID),
it stands in for both, so that the customer's mail client still files the reply in
the thread and the customer's answer references a Message-ID we know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from jietong.channels.base import DeliveryResult, OutboundMessage
from jietong.channels.email.compose import InvalidRecipient, ThreadContext, compose
from jietong.channels.email.config import InvalidAccount, relay_of, sender_of
from jietong.channels.email.headers import parse_message_ids
from jietong.channels.email.smtp_out import send
from jietong.identity.contact_points import ContactKind


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EmailAdapter:
    """The "email" channel. `secret` gives the key of the reply tokens (the platform
    secret); it is read at the first send, not when the registry is built."""

    def __init__(
        self, secret: Callable[[], bytes], *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._secret = secret
        self._clock = clock

    @property
    def name(self) -> str:
        return "email"

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.EMAIL

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Compose and send. Safe to repeat with the same delivery id: the Message-ID is
        derived from it, so a resent copy is recognised as the same mail by clients.
        Misconfiguration and refused addresses are permanent failures."""
        if message.account is None:
            return _permanent("no email account to send from")
        try:
            sender = sender_of(message.account)
            relay = relay_of(message.account)
        except InvalidAccount as exc:
            return _permanent(f"the email account is misconfigured: {exc}")
        if relay is None:
            return _permanent("the email account has no SMTP relay (smtp_host) configured")
        try:
            mail = compose(
                message, sender, thread_of(message.thread), secret=self._secret(), now=self._clock()
            )
        except InvalidRecipient as exc:
            return _permanent(str(exc))
        return send(relay, mail)


def thread_of(thread: Mapping[str, str]) -> ThreadContext:
    """The threading context of a delivery's `thread` data (see the module docstring)."""
    context = ThreadContext.from_mapping(thread)
    root = next(iter(parse_message_ids(thread.get("thread_key"))), None)
    if root is None:
        return context
    references = context.references or (root,)
    in_reply_to = context.in_reply_to or references[-1]
    return ThreadContext(in_reply_to, references, context.subject, context.automatic)


def _permanent(error: str) -> DeliveryResult:
    return DeliveryResult(ok=False, error=error[:500], retryable=False)
