"""The contract between channel adapters and the core.

An adapter verifies and parses what a provider sends into an `InboundMessage` (pure,
channel-agnostic, frozen), and turns an `OutboundMessage` into the provider's wire
format. It never touches storage: intake (`jietong.interactions.intake`) stores inbound
messages in one transaction, and the delivery worker hands outbound ones to `deliver`.
Core code never asks "is this SMS?": it asks the registry for the adapter by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from jietong.identity.contact_points import ContactKind


@dataclass(frozen=True)
class Party:
    """Who sent or receives a message, as the channel knows them."""

    kind: ContactKind  # what kind of contact point `address` is
    address: str  # phone, email, openid, visitor id, SIP URI — not yet normalised
    display_name: str | None = None


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    declared_content_type: str | None
    data: bytes
    content_id: str | None = None  # for inline images referenced from HTML (cid:)


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, as parsed from a provider's payload.

    `external_id` is the provider's id for this message and the de-duplication key:
    intake stores a (org, channel, external_id) once, however often it is delivered.
    `thread_key` groups messages into one interaction (email: the conversation's root
    Message-ID or verified reply token; SMS: the customer's number and ours; WeChat:
    the openid; chat: the session); None lets intake decide by sender and recency.
    """

    channel: str
    org_id: str
    external_id: str
    sender: Party
    received_at: datetime
    text: str  # the new text only, plain
    html: str | None = None  # sanitised HTML, if the channel has rich text
    quoted_text: str | None = None  # quoted history and signature, separated from `text`
    subject: str | None = None
    thread_key: str | None = None
    references: tuple[str, ...] = ()  # earlier external ids this one answers (email)
    recipient: str | None = None  # our address/number/account the customer wrote to
    attachments: tuple[InboundAttachment, ...] = ()
    auto_generated: bool = False  # auto-reply, bounce, DSN: stored, never answered
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Added for issue 3 part A (all optional, so existing callers are unaffected):
    raw: bytes | None = field(default=None, repr=False)  # the payload as received, kept
    account_id: str | None = None  # the channel account the message arrived through
    queue_id: str | None = None  # where a new conversation of this account is routed


@dataclass(frozen=True)
class ChannelAccount:
    """The organisation's account a message is sent through (Twilio number, WeChat
    Official Account, API-channel client). `secrets` never appear in a repr or a log."""

    id: str
    provider: str
    address: str | None = None  # our number / original id / address on the channel
    settings: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundMessage:
    """A reply or notification to send on a channel; `delivery_id` is our idempotency key."""

    channel: str
    org_id: str
    delivery_id: str
    interaction_id: str
    message_id: str
    recipient: Party
    text: str
    html: str | None = None
    cc: tuple[str, ...] = ()  # further addresses on channels that have them (email CC)
    subject: str | None = None
    attachments: tuple[OutboundAttachment, ...] = ()
    thread: Mapping[str, str] = field(default_factory=dict)  # channel threading data
    sender_name: str | None = None  # the agent's name, where the channel shows one
    account: ChannelAccount | None = None  # the account to send through, if the channel has them


@dataclass(frozen=True)
class DeliveryResult:
    """What a send attempt achieved. `retryable=False` with an error is a permanent
    failure (bad address, blocked user): the delivery is marked failed and reported."""

    ok: bool
    provider_message_id: str | None = None
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's delivery-status report for a message we sent (SMS status callbacks)."""

    provider_message_id: str
    status: str  # the provider's own word, e.g. "delivered", "undelivered"
    delivered: bool | None  # True reached the recipient, False undeliverable, None pending
    error: str | None = None


class ChannelAdapter(Protocol):
    """One channel. Registered once at start-up; `name` is unique in the registry."""

    @property
    def name(self) -> str:
        """Registry key and the `channel` value of its interactions and messages."""
        ...

    @property
    def contact_kind(self) -> ContactKind:
        """The kind of contact point customers of this channel are identified by."""
        ...

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Send `message` (blocking I/O is allowed: the delivery worker runs it in a
        thread). Must be safe to call again with the same `delivery_id` after a crash."""
        ...
