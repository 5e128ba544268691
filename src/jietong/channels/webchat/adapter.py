"""The web chat channel's adapter.

A reply on a chat is not handed to any outside provider: the agent's message is already
stored in the conversation, and the visitor's widget reads its conversation from us. The
gateway pushes it to the widget as soon as the `MessageAdded` event reaches the bus (see
`gateway`), and a widget that was closed finds it in its timeline when it comes back.
So `deliver` only confirms: the message is in the visitor's conversation, and its id is
the provider id, which makes a repeated call with the same delivery harmless.
"""

from __future__ import annotations

from jietong.channels.base import DeliveryResult, OutboundMessage
from jietong.channels.webchat.config import ACCOUNTS, CHANNEL

__all__ = ["ACCOUNTS", "WebchatAdapter"]
from jietong.identity.contact_points import ContactKind


class WebchatAdapter:
    """The 'chat' channel: the embeddable widget (see `jietong.channels.webchat`)."""

    @property
    def name(self) -> str:
        return CHANNEL

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.CHAT_VISITOR

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if message.recipient.kind is not ContactKind.CHAT_VISITOR:
            return DeliveryResult(
                ok=False, error="a chat reply needs a chat visitor", retryable=False
            )
        return DeliveryResult(ok=True, provider_message_id=message.message_id)
