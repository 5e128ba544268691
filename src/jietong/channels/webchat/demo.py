"""The demo: a chat widget for the demo organisation, and a host page that embeds any
widget with the one script tag a customer would put on their own site.

`GET /api/v1/channels/chat/{widget key}/demo` shows a plain "shop" page with the widget
(handy for admins to try a widget they configured); `GET /api/v1/channels/chat/demo`
redirects to the demo organisation's widget. The page is served with the same strict CSP
as the web shell: no inline script or style, the widget's module and CSS are files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from jietong.app.platform import Platform
from jietong.channels.webchat import sessions
from jietong.channels.webchat.config import CHANNEL, PROVIDER
from jietong.core.errors import NotFound
from jietong.core.ids import new_id
from jietong.interactions.schemas import ID_PATTERN
from jietong.storage.tables import OrganisationRow, QueueRow
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.web.i18n import LANG_COOKIE, SUPPORTED, choose_locale, translate

DEMO_SLUG = "demo"
DEMO_WIDGET_NAME = "Website chat"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'"
)

router = APIRouter(prefix="/channels/chat", include_in_schema=False)
WEB = Path(__file__).parents[2] / "web"
WIDGET_DIR = WEB / "static" / "widget"
templates = Jinja2Templates(directory=str(WEB / "templates"))


def add_demo_widget(platform: Platform, org_id: str) -> str:
    """Give the demo organisation a widget routed to its first chat queue; returns its
    key. Chats stay possible when no agent is logged in (`offline_when=closed`), so that
    the demo can be tried alone; the offline form shows outside business hours only."""
    with platform.uow() as uow:
        queue = uow.session.scalar(
            select(QueueRow).where(QueueRow.org_id == org_id).order_by(QueueRow.id)
        )
        row = ChannelAccountRow(
            id=new_id(),
            org_id=org_id,
            channel=CHANNEL,
            name=DEMO_WIDGET_NAME,
            provider=PROVIDER,
            address=None,
            queue_id=None if queue is None else queue.id,
            settings={"offline_when": "closed", "pre_chat": "optional"},
            secrets={},
            enabled=True,
            created_at=uow.now,
            updated_at=uow.now,
        )
        uow.session.add(row)
        uow.commit()
        return row.id


def demo_widget_key(platform: Platform) -> str | None:
    with platform.uow() as uow:
        return uow.session.scalar(
            select(ChannelAccountRow.id)
            .join(OrganisationRow, OrganisationRow.id == ChannelAccountRow.org_id)
            .where(
                OrganisationRow.slug == DEMO_SLUG,
                ChannelAccountRow.channel == CHANNEL,
                ChannelAccountRow.provider == PROVIDER,
                ChannelAccountRow.enabled.is_(True),
            )
            .order_by(ChannelAccountRow.id)
            .limit(1)
        )


ASSET = re.compile(r"^[a-z][a-z-]{0,40}\.(js|css)$")
ASSET_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


@router.get("/assets/{name}", response_model=None)
async def widget_asset(name: str) -> Response:
    """The widget's modules for pages on other sites. A module script from another
    origin is fetched in CORS mode, so it needs Access-Control-Allow-Origin, which the
    plain static files do not send; these are the same files, with it. Only the files
    of static/widget/ are served, by exact name."""
    path = WIDGET_DIR / name
    if not ASSET.match(name) or not path.is_file():
        raise NotFound(f"no widget asset {name[:60]}")
    return Response(
        path.read_bytes(),
        media_type=ASSET_TYPES[name.rsplit(".", 1)[1]],
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=300",
        },
    )


@router.get("/demo", response_model=None)
async def demo_redirect(request: Request) -> Response:
    key = await run_in_threadpool(demo_widget_key, request.app.state.platform)
    if key is None:
        raise NotFound("there is no demo organisation here (start with `jietong demo`)")
    return RedirectResponse(f"/api/v1/channels/chat/{key}/demo", status_code=303)


@router.get("/{widget_key}/demo", response_model=None)
async def demo_page(
    request: Request, widget_key: Annotated[str, PathParam(pattern=ID_PATTERN)]
) -> Response:
    platform: Platform = request.app.state.platform

    def find() -> bool:
        with platform.uow() as uow:
            return sessions.find_widget(uow, widget_key) is not None

    if not await run_in_threadpool(find):
        raise NotFound(f"no chat widget {widget_key}")
    locale = choose_locale(
        None,
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        platform.settings.default_locale,
    )

    def t(key: str, **values: str) -> str:
        return translate(locale, key, **values)

    response = templates.TemplateResponse(
        request,
        "widget_demo.html",
        {"t": t, "locale": locale, "locales": SUPPORTED, "widget_key": widget_key},
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
