"""The ASGI application: API under /api/v1, the web shell, health, the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from jietong import __version__
from jietong.app import problems
from jietong.app.channels_runtime import DeliveryWorker, channel_routers
from jietong.app.email_runtime import EmailRuntime
from jietong.app.limits import ENVELOPE_BYTES, BodySizeLimit
from jietong.app.platform import Platform
from jietong.app.voice_runtime import start_voice, stop_voice
from jietong.auth import api as auth_api
from jietong.auth.ratelimit import InProcessRateLimiter
from jietong.cases import api as cases_api
from jietong.channels.email import api as email_api
from jietong.desktop import api as stream_api
from jietong.identity import api as identity_api
from jietong.interactions import api as interactions_api
from jietong.interactions.writer_process import ProcessCommitter
from jietong.org import api as org_api
from jietong.routing import api as routing_api
from jietong.telephony.calls import api as voice_cdrs_api
from jietong.telephony.ivr import api as voice_ivr_api
from jietong.telephony.orchestrator import api as voice_calls_api
from jietong.telephony.policy import api as voice_policy_api
from jietong.telephony.sip import api as sip_api
from jietong.web import pages, wfm_pages
from jietong.web.desktop import routes as desktop_routes

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def create_app(platform: Platform) -> FastAPI:
    """Build the application around an already-built platform (ports chosen, DB migrated)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        relay_task = None
        if platform.settings.outbox_relay_enabled:
            # Publish what a previous process committed but did not publish.
            await asyncio.to_thread(platform.relay.relay_all)
            relay_task = asyncio.create_task(_relay_forever(platform))
            # The intake writer publishes after each batch (ADR 0012 §6): on SQLite it
            # and the relay take turns for the one write lock; on both, publishing in
            # the writer's thread measured faster than waking the relay's.
            platform.intake.publish_after_batch(platform.relay.relay_all)
        delivery_task = None
        if platform.settings.delivery_worker_enabled:
            worker = DeliveryWorker(platform)
            platform.bus.subscribe(worker.on_event)
            delivery_task = asyncio.create_task(worker.run_forever())
        email = EmailRuntime(platform)  # SMTP receiver and IMAP pollers, per the accounts
        await asyncio.to_thread(email.start)
        if platform.routing is not None:
            await platform.routing.start(platform)  # the routing engine's loop (issue 4)
        voice = await start_voice(platform, app.state)  # SIP, media, calls (issue 6)
        # What start-up built (routes, schemas, table metadata, imported modules) lives
        # as long as the process: out of the collector's sight, a full collection under
        # load took 0.2 s instead of stalling every thread for it about once a second
        # (the intake benchmark's p99 at 300 msgs/s went from 270 ms to 70 ms).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # an app stopped inside a longer-lived process (tests) is garbage
            await stop_voice(voice)
            if platform.routing is not None:
                await platform.routing.stop()
            await asyncio.to_thread(email.stop)
            platform.intake.publish_after_batch(None)
            for task in (relay_task, delivery_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app = FastAPI(
        title="Jietong",
        version=__version__,
        summary="Omnichannel contact center API",
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.platform = platform
    app.state.login_limiter = InProcessRateLimiter(platform.settings.login_attempts_per_minute)
    problems.install(app)
    app.add_middleware(
        BodySizeLimit, max_body_bytes=platform.settings.max_attachment_bytes + ENVELOPE_BYTES
    )
    # Providers' webhooks and the web chat first, each included on its own: FastAPI
    # matches a request against the included routers in order, and for each router it
    # visits it walks every route beneath it (to see whether they changed) — 40 µs per
    # webhook behind the whole API, a few µs when they come first on their own.
    for channel_router in channel_routers():
        app.include_router(channel_router, prefix=API_PREFIX)
    app.include_router(_api_router(), prefix=API_PREFIX)
    app.include_router(pages.router)
    app.include_router(desktop_routes.router)
    app.include_router(wfm_pages.router)
    app.mount("/static", StaticFiles(packages=[("jietong.web", "static")]), name="static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app


def _api_router() -> APIRouter:
    router = APIRouter()
    router.include_router(auth_api.router)
    router.include_router(org_api.router)
    router.include_router(identity_api.router)
    router.include_router(interactions_api.timeline_router)
    router.include_router(interactions_api.router)
    router.include_router(cases_api.router)
    router.include_router(routing_api.agents_router)
    router.include_router(routing_api.offers_router)
    router.include_router(routing_api.router)
    router.include_router(stream_api.router)
    router.include_router(email_api.router)
    router.include_router(voice_cdrs_api.router)
    router.include_router(voice_ivr_api.router)
    router.include_router(sip_api.router)
    router.include_router(voice_calls_api.router)
    router.include_router(voice_policy_api.router)
    return router


async def _relay_forever(platform: Platform) -> None:
    interval = platform.settings.outbox_poll_seconds
    # With the intake writer in a process of its own, that process is the one relay (one
    # publisher keeps the publication order): this task only wakes it.
    intake = platform.intake
    relay = (
        intake.wake_relay
        if isinstance(intake, ProcessCommitter) and intake.relays
        else platform.relay.relay_pending
    )
    while True:
        try:
            await asyncio.to_thread(platform.events_pending.wait, interval)
            platform.events_pending.clear()
            await asyncio.to_thread(relay)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The bus being down must not kill the relay: events wait in the outbox.
            log.exception("outbox relay failed; retrying")
            await asyncio.sleep(interval)
