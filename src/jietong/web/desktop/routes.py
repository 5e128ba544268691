"""Everything the screens add to the application: pages and /api/v1/desktop."""

from __future__ import annotations

from fastapi import APIRouter

from jietong.web.desktop import api, pages

API_PREFIX = "/api/v1"

router = APIRouter()
router.include_router(pages.router)
router.include_router(api.router, prefix=API_PREFIX)
