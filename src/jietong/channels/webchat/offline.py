"""Offline mode: when nobody can chat (outside business hours, or no agent logged in),
the widget offers a form instead, and what the visitor leaves becomes work that waits.

The message goes through intake like any chat message (so it is stored once, threaded
into the visitor's conversation and routed when agents return), and a case is opened
and linked to the conversation with the email address the visitor gave, so that the
answer can go out by email even if the visitor never opens the chat again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jietong.cases import service as case_service
from jietong.cases.model import CaseType
from jietong.cases.schemas import CaseCreate
from jietong.channels.webchat import model, service, sessions, store
from jietong.channels.webchat.config import WidgetConfig
from jietong.core.errors import InvalidInput
from jietong.core.tenancy import system_actor
from jietong.storage.tables import CaseInteractionRow, CaseRow

SUBJECT_CHARS = 120


@dataclass(frozen=True)
class LeftMessage:
    posted: model.Posted
    case_number: int | None


def leave_message(
    ctx: model.ChatContext,
    widget: WidgetConfig,
    visitor: model.Visitor,
    *,
    client_id: str,
    name: str | None,
    email: str,
    text: str,
    now: datetime,
) -> LeftMessage:
    """Store the offline message and open (once) a case for it. InvalidInput without a
    valid email address: that is how the answer will reach the visitor."""
    if not email.strip():
        raise InvalidInput("an email address is needed to answer you")
    answers = sessions.prechat_of(name, email, None, ctx.default_region)
    visitor = _remember(ctx, visitor, answers, now)
    posted = service.post_message(
        ctx,
        widget,
        visitor,
        client_id=client_id,
        text=text,
        metadata={"offline": "true", "email": answers.email or ""},
        form_answered=True,  # the offline form asks for the email itself
        now=now,
    )
    return LeftMessage(posted, _open_case(ctx, visitor, posted, answers.email or "", text))


def _remember(
    ctx: model.ChatContext, visitor: model.Visitor, answers: model.Prechat, now: datetime
) -> model.Visitor:
    with ctx.new_uow() as uow:
        row = store.find_visitor(uow.session, visitor.id, for_update=True)
        if row is not None:
            row.name = answers.name or row.name
            row.email = answers.email or row.email
            row.last_seen_at = now
            uow.commit()
    sessions.apply_prechat(ctx, visitor, answers)
    return replace(visitor, name=answers.name or visitor.name, email=answers.email)


def _open_case(
    ctx: model.ChatContext,
    visitor: model.Visitor,
    posted: model.Posted,
    email: str,
    text: str,
) -> int | None:
    actor = system_actor(visitor.org_id)
    with ctx.new_uow() as uow:
        existing = _case_of(uow.session, visitor.org_id, posted.interaction_id)
        if existing is not None:
            return existing  # the form was sent again: its case exists already
        summary = " ".join(text.split())[:SUBJECT_CHARS] or email
        view = case_service.open_case(
            uow,
            actor,
            CaseCreate(
                case_type=CaseType.INQUIRY,
                subject=summary,
                description=f"{text}\n\n— {visitor.name or ''} <{email}> (web chat, offline)",
                customer_id=sessions.customer_of(uow, visitor),
            ),
        )
        case_service.link_interaction(uow, actor, view.case.id, posted.interaction_id)
        return view.case.number


def _case_of(session: Session, org_id: str, interaction_id: str) -> int | None:
    return session.scalar(
        select(CaseRow.number)
        .join(CaseInteractionRow, CaseInteractionRow.case_id == CaseRow.id)
        .where(CaseRow.org_id == org_id, CaseInteractionRow.interaction_id == interaction_id)
        .limit(1)
    )
