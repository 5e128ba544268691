"""Events of the agent desktop. Importing this module registers them in the catalogue;
the screens hear them on the stream like any other event."""

from __future__ import annotations

from jietong.events.base import DomainEvent


class ColleagueMentioned(DomainEvent):
    """A member of staff named a colleague (@name) in an internal note; `user_id` is the
    colleague, who hears it on their stream even when the work is not their team's."""

    interaction_id: str
    message_id: str
    user_id: str
    author_user_id: str | None


class WrapUpRecorded(DomainEvent):
    """An agent recorded the outcome of a contact (a wrap-up code and a disposition note)
    as it ended."""

    interaction_id: str
    user_id: str | None
    code: str | None
