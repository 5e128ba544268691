"""Message catalogues (zh-CN and en) and choosing the user's language.

Order of preference: the signed-in user's setting, the `jietong_lang` cookie, the
browser's Accept-Language, then the organisation default. Catalogues are JSON files
with identical keys; a test fails if one language lacks a key the other has.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

SUPPORTED = ("zh-CN", "en")
FALLBACK = "en"
LANG_COOKIE = "jietong_lang"


@cache
def catalogue(locale: str) -> dict[str, str]:
    text = resources.files("jietong.web").joinpath("i18n", f"{locale}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def translate(locale: str, key: str, **values: str) -> str:
    """The message for `key` in `locale`, with {placeholders} filled; the key if unknown."""
    message = catalogue(locale if locale in SUPPORTED else FALLBACK).get(key, key)
    return message.format(**values) if values else message


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale for an Accept-Language header, by q-value."""
    if not header:
        return None
    weighted: list[tuple[float, str]] = []
    for part in header.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower()))
    for _quality, tag in sorted(weighted, key=lambda item: -item[0]):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return None


def choose_locale(
    user_locale: str | None, cookie: str | None, accept_language: str | None, default: str
) -> str:
    for candidate in (user_locale, cookie, from_accept_language(accept_language), default):
        if candidate in SUPPORTED:
            return candidate
    return FALLBACK
