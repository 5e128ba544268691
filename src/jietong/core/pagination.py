"""Cursor pagination. Ids are time-ordered, so 'newest first' is 'id descending' and the
cursor is simply the last id seen, wrapped so that clients treat it as opaque."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from jietong.core.errors import InvalidInput


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T")
R = TypeVar("R", bound=HasId)
_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id a cursor stands for; InvalidInput for anything that is not one of ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("malformed cursor") from None
    if not _ID.match(raw):
        raise InvalidInput("malformed cursor")
    return raw


def page_of(rows: list[R], limit: int) -> Page[R]:
    """Build a page from up to limit+1 rows fetched newest first."""
    more = len(rows) > limit
    items = rows[:limit]
    cursor = encode_cursor(items[-1].id) if more and items else None
    return Page(items=items, next_cursor=cursor)
