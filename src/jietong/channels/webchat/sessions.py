"""Visitor sessions: who the visitor is, proven by a token we signed or by the host
site's HMAC of its user id, and what they told us in the pre-chat form.

A user id comes with `user_hash = HMAC-SHA256(widget identity secret, user_id)` or is
refused (403): changing the id in the widget, or presenting another user's hash, gets
nowhere. A token must be ours, for this widget, unexpired, and name a known visitor who
is not blocked (else 401/403). Without either, the visitor is new and anonymous, with an
id the server drew at random.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from jietong.channels.accounts import find_webhook_account
from jietong.channels.webchat import store, tokens
from jietong.channels.webchat.config import CHANNEL, PROVIDER, WidgetConfig, widget_config
from jietong.channels.webchat.model import (
    ChatContext,
    Prechat,
    SessionRequest,
    SessionStarted,
    Visitor,
)
from jietong.core.errors import AuthenticationFailed, Conflict, PermissionDenied
from jietong.core.tenancy import system_actor
from jietong.identity import service as identity_service
from jietong.identity import store as identity_store
from jietong.identity.contact_points import ContactKind, normalise
from jietong.identity.schemas import ContactPointIn
from jietong.storage.tables_webchat import WebchatVisitorRow
from jietong.storage.uow import UnitOfWork

# -- sessions ---------------------------------------------------------------------------


def find_widget(uow: UnitOfWork, key: str) -> WidgetConfig | None:
    """The enabled widget with this key (its channel account id), or None."""
    found = find_webhook_account(uow, key, CHANNEL)
    if found is None or found.account.provider != PROVIDER:
        return None
    return widget_config(found.org_id, found.queue_id, found.account)


def start_session(
    ctx: ChatContext, widget: WidgetConfig, request: SessionRequest, *, now: datetime
) -> SessionStarted:
    """Start or resume a visitor's session and issue a fresh token. A user id needs the
    host site's HMAC (else 403); a token must be ours, for this widget, unexpired and of
    a known, unblocked visitor (else 401); without either, a new anonymous visitor."""
    visitor_id, external_user = _claimed_visitor(ctx, widget, request, now)
    prechat = prechat_of(request.name, request.email, request.phone, ctx.default_region)
    with ctx.new_uow() as uow:
        row = _visitor_row(uow, widget, visitor_id, external_user, request, now)
        _remember(row, prechat, request.locale, now)
        visitor = _view(row)
        last = store.last_seq(uow.session, visitor.id)
        _commit_visitor(uow)
    if prechat.points:
        apply_prechat(ctx, visitor, prechat)
    token, expires = tokens.issue(ctx.token_key, visitor.id, widget.key, now=now)
    return SessionStarted(visitor, token, expires, last)


def authenticate(ctx: ChatContext, widget: WidgetConfig, token: str, *, now: datetime) -> Visitor:
    """The visitor a token names, for this widget; AuthenticationFailed (401) for a bad,
    expired or foreign token, PermissionDenied (403) for a blocked visitor."""
    try:
        claims = tokens.verify(ctx.token_key, token, widget_key=widget.key, now=now)
    except tokens.InvalidToken:
        raise AuthenticationFailed("invalid or expired visitor token") from None
    with ctx.new_uow() as uow:
        row = store.find_visitor(uow.session, claims.visitor_id)
        if row is None or row.account_id != widget.key or row.org_id != widget.org_id:
            raise AuthenticationFailed("invalid or expired visitor token")
        if row.blocked_at is not None:
            raise PermissionDenied("this visitor may not chat")
        return _view(row)


def _claimed_visitor(
    ctx: ChatContext, widget: WidgetConfig, request: SessionRequest, now: datetime
) -> tuple[str, str | None]:
    if request.user_id is not None:
        try:
            tokens.check_identity(widget.identity_secret, request.user_id, request.user_hash or "")
        except tokens.IdentityRefused as exc:
            raise PermissionDenied(f"identity not verified: {exc}") from None
        return tokens.verified_visitor_id(widget.key, request.user_id), request.user_id
    if widget.identity_required:
        raise PermissionDenied("this chat is for signed-in users of the site only")
    if request.token:
        try:
            claims = tokens.verify(ctx.token_key, request.token, widget_key=widget.key, now=now)
        except tokens.InvalidToken:
            raise AuthenticationFailed("invalid or expired visitor token") from None
        if claims.visitor_id.startswith("u-"):
            # A verified visitor proves who they are each time, not with an old token.
            raise AuthenticationFailed("a signed-in visitor must send user_id and user_hash")
        return claims.visitor_id, None
    return tokens.anonymous_visitor_id(), None


def _visitor_row(
    uow: UnitOfWork,
    widget: WidgetConfig,
    visitor_id: str,
    external_user: str | None,
    request: SessionRequest,
    now: datetime,
) -> WebchatVisitorRow:
    row = store.find_visitor(uow.session, visitor_id, for_update=True)
    if row is not None:
        if row.account_id != widget.key or row.org_id != widget.org_id:
            raise AuthenticationFailed("invalid or expired visitor token")
        if row.blocked_at is not None:
            raise PermissionDenied("this visitor may not chat")
        return row
    if request.token and external_user is None:
        # Our signature, but a visitor we do not know (deleted with their widget).
        raise AuthenticationFailed("invalid or expired visitor token")
    row = WebchatVisitorRow(
        id=visitor_id,
        org_id=widget.org_id,
        account_id=widget.key,
        external_user_id=external_user,
        created_at=now,
        last_seen_at=now,
    )
    uow.session.add(row)
    return row


def _remember(row: WebchatVisitorRow, prechat: Prechat, locale: str | None, now: datetime) -> None:
    row.last_seen_at = now
    row.name = prechat.name or row.name
    row.email = prechat.email or row.email
    row.phone = prechat.phone or row.phone
    if locale in ("zh-CN", "en"):
        row.locale = locale


def _commit_visitor(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:
        # Two first sessions of one verified user: the other created the row; retry.
        raise Conflict("the visitor was being created concurrently; retry") from None


def _view(row: WebchatVisitorRow) -> Visitor:
    return Visitor(
        id=row.id,
        org_id=row.org_id,
        widget_key=row.account_id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        verified=row.external_user_id is not None,
    )


# -- pre-chat answers -------------------------------------------------------------------


def prechat_of(
    name: str | None, email: str | None, phone: str | None, default_region: str
) -> Prechat:
    """Validated pre-chat answers (InvalidInput for an unreadable email or phone)."""
    clean_name = " ".join((name or "").split())[:200] or None
    points = []
    clean_email = clean_phone = None
    if email and email.strip():
        clean_email = normalise(ContactKind.EMAIL, email)
        points.append(ContactPointIn(kind=ContactKind.EMAIL, value=clean_email))
    if phone and phone.strip():
        clean_phone = normalise(ContactKind.PHONE, phone, default_region)
        points.append(ContactPointIn(kind=ContactKind.PHONE, value=clean_phone))
    return Prechat(clean_name, clean_email, clean_phone, tuple(points))


def apply_prechat(ctx: ChatContext, visitor: Visitor, prechat: Prechat) -> None:
    """Give the visitor's customer the email and phone they typed, when nobody has them
    yet. What another customer already has is NOT attached and does NOT move the visitor
    to that customer: typing someone's email must not open their history. Agents see the
    answers on the conversation and can merge (suggested merges) once they are sure."""
    with ctx.new_uow() as uow:
        customer_id = customer_of(uow, visitor)
        if customer_id is None:
            return
        free = [
            p
            for p in prechat.points
            if identity_store.find_contact_point(uow.session, visitor.org_id, p.kind, p.value)
            is None
        ]
        if not free:
            return
        try:
            identity_service.enrich_customer(
                uow,
                system_actor(visitor.org_id),
                customer_id,
                new_points=free,
                update=None,
                default_region=ctx.default_region,
            )
        except Conflict:
            return  # taken meanwhile by someone else: left for a merge suggestion


def stored_prechat(visitor: Visitor) -> Prechat:
    """The answers kept on the visitor (normalised when they were given)."""
    points = [
        ContactPointIn(kind=kind, value=value)
        for kind, value in ((ContactKind.EMAIL, visitor.email), (ContactKind.PHONE, visitor.phone))
        if value
    ]
    return Prechat(visitor.name, visitor.email, visitor.phone, tuple(points))


def customer_of(uow: UnitOfWork, visitor: Visitor) -> str | None:
    point = identity_store.find_contact_point(
        uow.session, visitor.org_id, ContactKind.CHAT_VISITOR.value, visitor.id
    )
    return None if point is None else point.customer_id
