"""Events of the channels: inbound intake, outbound deliveries, channel accounts and
identity merges (issue 3)."""

from __future__ import annotations

from jietong.events.base import DomainEvent


class InboundMessageReceived(DomainEvent):
    """A customer's message arrived on a channel and was stored (once, however often the
    provider delivered it); `opened_interaction` says whether it started a conversation."""

    interaction_id: str
    message_id: str
    customer_id: str
    channel: str
    opened_interaction: bool
    auto_generated: bool


class ConversationOpened(DomainEvent):
    """An inbound message opened a new conversation that needs an agent: routing picks it
    up from here. Never emitted for auto-generated mail (bounces, auto-replies)."""

    interaction_id: str
    customer_id: str
    channel: str
    queue_id: str | None
    continues_interaction_id: str | None  # the closed conversation this one follows up


class DeliveryQueued(DomainEvent):
    """An outbound message was stored and queued for delivery on its channel."""

    delivery_id: str
    interaction_id: str
    message_id: str
    channel: str


class DeliverySent(DomainEvent):
    """The channel's provider accepted an outbound message."""

    delivery_id: str
    interaction_id: str
    channel: str
    attempts: int
    provider_message_id: str | None


class DeliveryRetryScheduled(DomainEvent):
    """A send attempt failed for a passing reason; the delivery will be tried again."""

    delivery_id: str
    interaction_id: str
    attempts: int
    error: str


class DeliveryFailed(DomainEvent):
    """An outbound message could not be delivered (a permanent error, or every retry was
    used up, or the provider reported it undeliverable). Agents must see this."""

    delivery_id: str
    interaction_id: str
    channel: str
    attempts: int
    error: str


class DeliveryConfirmed(DomainEvent):
    """The provider reported that an outbound message reached the customer's device."""

    delivery_id: str
    interaction_id: str
    channel: str


class DeliveryRequeued(DomainEvent):
    """Someone put a failed delivery back in the queue to be tried again."""

    delivery_id: str
    interaction_id: str


class ChannelAccountCreated(DomainEvent):
    """An organisation connected an account on a channel (its secrets are never in events)."""

    account_id: str
    channel: str
    provider: str


class ChannelAccountUpdated(DomainEvent):
    """A channel account's settings, secrets, queue or state changed (names only)."""

    account_id: str
    changed: list[str]


class ChannelAccountDeleted(DomainEvent):
    """A channel account was removed; its webhooks answer 404 from now on."""

    account_id: str


class CustomersMerged(DomainEvent):
    """An agent merged one customer into another; the loser's contact points, interactions
    and cases now belong to the survivor. Reversible (CustomersUnmerged)."""

    merge_id: str
    survivor_id: str
    loser_id: str


class CustomersUnmerged(DomainEvent):
    """A merge was undone: what it moved went back to the restored customer."""

    merge_id: str
    survivor_id: str
    loser_id: str
