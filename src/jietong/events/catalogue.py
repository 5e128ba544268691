"""Every domain event Jietong publishes. Documented by docstrings (a test checks that)."""

from __future__ import annotations

from jietong.events.base import DomainEvent


class OrganisationCreated(DomainEvent):
    """A new tenant organisation was created."""

    organisation_id: str
    name: str


class UserCreated(DomainEvent):
    """A user account was created in an organisation."""

    user_id: str
    username: str
    role: str


class UserUpdated(DomainEvent):
    """A user's profile, role, activity or team membership changed."""

    user_id: str
    changed: list[str]


class TeamCreated(DomainEvent):
    """A team or back-office department was created."""

    team_id: str
    name: str
    kind: str


class SkillCreated(DomainEvent):
    """A skill or language was added to the organisation's catalogue."""

    skill_id: str
    name: str


class UserSkillsChanged(DomainEvent):
    """A user's skills or proficiency levels were set."""

    user_id: str
    skills: dict[str, int]


class QueueCreated(DomainEvent):
    """A queue was created."""

    queue_id: str
    name: str


class QueueUpdated(DomainEvent):
    """A queue's settings changed."""

    queue_id: str
    changed: list[str]


class CustomerCreated(DomainEvent):
    """A customer profile was created (by an agent, an import or a first contact)."""

    customer_id: str
    display_name: str


class CustomerUpdated(DomainEvent):
    """Fields of a customer profile changed."""

    customer_id: str
    changed: list[str]


class CustomerDeleted(DomainEvent):
    """A customer with no contact history was deleted (for example, created by mistake)."""

    customer_id: str


class ContactPointAdded(DomainEvent):
    """A phone number, email, chat id, WeChat openid or SIP URI was attached to a customer."""

    customer_id: str
    contact_point_id: str
    kind: str


class ContactPointRemoved(DomainEvent):
    """A contact point was detached from a customer."""

    customer_id: str
    contact_point_id: str
    kind: str


class InteractionCreated(DomainEvent):
    """A contact episode began on a channel (a call, a chat, an email thread, an SMS thread)."""

    interaction_id: str
    channel: str
    direction: str
    customer_id: str | None
    queue_id: str | None
    # Where it starts: a screen can place it without waiting for a state change.
    state: str = "arrived"
    assigned_user_id: str | None = None


class InteractionStateChanged(DomainEvent):
    """An interaction moved along its lifecycle (queued, offered, answered, ended, ...)."""

    interaction_id: str
    from_state: str
    trigger: str
    to_state: str
    queue_id: str | None
    assigned_user_id: str | None


class MessageAdded(DomainEvent):
    """A message was stored in an interaction (inbound, outbound, or an internal note).
    `interaction_state` is the interaction's state after it (None: not told): a
    customer's message makes an interaction still 'arrived' routable, one in any other
    state changes nothing for routing."""

    interaction_id: str
    message_id: str
    direction: str
    internal: bool
    interaction_state: str | None = None


class AttachmentStored(DomainEvent):
    """A file was stored and linked to a message or interaction."""

    attachment_id: str
    interaction_id: str | None
    content_type: str
    size_bytes: int


class CaseOpened(DomainEvent):
    """A case (ticket) was opened."""

    case_id: str
    number: int
    case_type: str
    priority: str
    customer_id: str | None


class CaseStatusChanged(DomainEvent):
    """A case moved along its workflow."""

    case_id: str
    from_status: str
    trigger: str
    to_status: str


class CaseUpdated(DomainEvent):
    """A case's fields (owner, department, priority, subject...) changed."""

    case_id: str
    changed: list[str]


class CaseInteractionLinked(DomainEvent):
    """An interaction was linked to a case."""

    case_id: str
    interaction_id: str


class ApiTokenIssued(DomainEvent):
    """An API token was issued to a user (its secret is never part of any event)."""

    token_id: str
    user_id: str
    scopes: list[str]


class ApiTokenRevoked(DomainEvent):
    """An API token was revoked."""

    token_id: str


# Events of other areas live in their own modules; importing them registers them.
from jietong.events import channels as _channels  # noqa: E402, F401
from jietong.events import routing as _routing  # noqa: E402, F401
from jietong.events import voice as _voice  # noqa: E402, F401
