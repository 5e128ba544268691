"""SQL of the web chat channel: visitors and their timelines. No decisions here.

Which messages a visitor may see is answered from data only intake writes: an
interaction is the visitor's when it holds an inbound chat message whose source carries
the visitor's id as thread key (the thread key is set by the server, never by the widget).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jietong.channels.webchat.config import CHANNEL
from jietong.storage.tables import AttachmentRow, InteractionRow, MessageRow, UserRow
from jietong.storage.tables_channels import MessageSourceRow
from jietong.storage.tables_webchat import WebchatTimelineRow, WebchatVisitorRow


def find_visitor(
    session: Session, visitor_id: str, *, for_update: bool = False
) -> WebchatVisitorRow | None:
    query = select(WebchatVisitorRow).where(WebchatVisitorRow.id == visitor_id)
    return session.scalar(query.with_for_update() if for_update else query)


def interactions_of(session: Session, org_id: str, visitor_id: str) -> list[str]:
    """Ids of the conversations the visitor wrote in, oldest first."""
    rows = session.scalars(
        select(MessageSourceRow.interaction_id)
        .where(
            MessageSourceRow.org_id == org_id,
            MessageSourceRow.channel == CHANNEL,
            MessageSourceRow.thread_key == visitor_id,
        )
        .group_by(MessageSourceRow.interaction_id)
        .order_by(func.min(MessageSourceRow.message_id))
    )
    return list(rows)


def latest_interaction(session: Session, org_id: str, visitor_id: str) -> InteractionRow | None:
    ids = interactions_of(session, org_id, visitor_id)
    if not ids:
        return None
    return session.scalar(
        select(InteractionRow)
        .where(InteractionRow.org_id == org_id, InteractionRow.id.in_(ids))
        .order_by(InteractionRow.arrived_at.desc(), InteractionRow.id.desc())
        .limit(1)
    )


def unsequenced(
    session: Session, org_id: str, visitor_id: str, interaction_ids: Collection[str]
) -> list[MessageRow]:
    """Chat messages of those conversations the visitor may see (not internal notes,
    not mail sent from them) that have no number in the visitor's timeline yet."""
    if not interaction_ids:
        return []
    numbered = select(WebchatTimelineRow.message_id).where(
        WebchatTimelineRow.visitor_id == visitor_id
    )
    return list(
        session.scalars(
            select(MessageRow)
            .where(
                MessageRow.org_id == org_id,
                MessageRow.interaction_id.in_(list(interaction_ids)),
                MessageRow.channel == CHANNEL,
                MessageRow.internal.is_(False),
                MessageRow.id.not_in(numbered),
            )
            .order_by(MessageRow.created_at, MessageRow.id)
        )
    )


def last_seq(session: Session, visitor_id: str) -> int:
    value = session.scalar(
        select(func.max(WebchatTimelineRow.seq)).where(WebchatTimelineRow.visitor_id == visitor_id)
    )
    return int(value or 0)


def timeline_after(
    session: Session, visitor_id: str, after: int, limit: int
) -> list[tuple[WebchatTimelineRow, MessageRow]]:
    rows = session.execute(
        select(WebchatTimelineRow, MessageRow)
        .join(MessageRow, MessageRow.id == WebchatTimelineRow.message_id)
        .where(WebchatTimelineRow.visitor_id == visitor_id, WebchatTimelineRow.seq > after)
        .order_by(WebchatTimelineRow.seq)
        .limit(limit)
    )
    return [(t, m) for t, m in rows]


def seq_of(session: Session, visitor_id: str, message_id: str) -> int | None:
    return session.scalar(
        select(WebchatTimelineRow.seq).where(
            WebchatTimelineRow.visitor_id == visitor_id,
            WebchatTimelineRow.message_id == message_id,
        )
    )


def in_timeline(session: Session, visitor_id: str, message_id: str) -> bool:
    return seq_of(session, visitor_id, message_id) is not None


def display_names(session: Session, org_id: str, user_ids: Collection[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(UserRow.id, UserRow.display_name).where(
            UserRow.org_id == org_id, UserRow.id.in_(list(user_ids))
        )
    )
    return {uid: name for uid, name in rows}


def attachments_of_messages(
    session: Session, org_id: str, message_ids: Collection[str]
) -> dict[str, list[AttachmentRow]]:
    result: dict[str, list[AttachmentRow]] = {}
    if not message_ids:
        return result
    rows = session.scalars(
        select(AttachmentRow)
        .where(AttachmentRow.org_id == org_id, AttachmentRow.message_id.in_(list(message_ids)))
        .order_by(AttachmentRow.id)
    )
    for row in rows:
        result.setdefault(row.message_id or "", []).append(row)
    return result


def find_attachment(session: Session, org_id: str, attachment_id: str) -> AttachmentRow | None:
    return session.scalar(
        select(AttachmentRow).where(
            AttachmentRow.org_id == org_id, AttachmentRow.id == attachment_id
        )
    )
