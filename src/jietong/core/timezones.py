"""Time zone names as users give them: checked against the IANA database this machine
has, so a stored name always converts (a screen never fails on a zone it cannot load)."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def known_time_zone(name: str) -> str:
    """`name` when it is a zone of the IANA database (e.g. Asia/Shanghai); ValueError
    (a 422 in a request) otherwise."""
    if name not in _known():
        raise ValueError(f"unknown time zone {name[:64]!r}; use an IANA name such as Asia/Shanghai")
    return name
