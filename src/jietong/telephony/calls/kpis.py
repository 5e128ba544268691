"""Voice KPIs from CDRs: pure, so every figure can be checked by hand.

Definitions (per set of CDRs, e.g. one queue and one day):

- ``calls``: CDRs; ``queued``: calls that entered a queue;
- ``answered``: calls an agent answered; ``abandoned_ivr`` / ``abandoned_queue`` /
  ``abandoned_ringing``: abandons by point (cdr.py);
- ``short_abandons``: abandons within ``short_abandon_s`` of their point (using
  ``abandoned_after_s``, so the threshold is the report's, not the one stored);
- ``abandon_rate``: queue abandons that were not short / (queued - short queue abandons);
- ``service_level``: calls answered within ``service_level_s`` of queue entry /
  (queued - short queue abandons) — short abandons count neither way, as is usual;
- ``asa_s``: mean queue wait of the answered; ``aht_s``: mean talk + hold of answered
  calls that ended (after-call work is not a call figure: it lives on the interaction's
  wrap-up); ``ivr_contained``: calls that ended in the IVR with an outcome of
  its own (voicemail, callback, hang-up, transfer) and never queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class CdrLike(Protocol):
    @property
    def queue_entered_at(self) -> object: ...
    @property
    def agent_answered_at(self) -> object: ...
    @property
    def queue_wait_s(self) -> float | None: ...
    @property
    def talk_s(self) -> float: ...
    @property
    def hold_s(self) -> float: ...
    @property
    def ended_at(self) -> object: ...
    @property
    def abandoned(self) -> bool: ...
    @property
    def abandon_point(self) -> str | None: ...
    @property
    def abandoned_after_s(self) -> float | None: ...
    @property
    def ivr_outcome(self) -> str | None: ...


@dataclass(frozen=True)
class VoiceKpis:
    calls: int
    queued: int
    answered: int
    abandoned_ivr: int
    abandoned_queue: int
    abandoned_ringing: int
    short_abandons: int
    ivr_contained: int
    abandon_rate: float | None
    service_level: float | None
    asa_s: float | None
    aht_s: float | None


_CONTAINED = frozenset({"voicemail", "callback", "hangup", "transfer"})


def summarise(
    cdrs: Iterable[CdrLike], *, short_abandon_s: float = 5.0, service_level_s: float = 20.0
) -> VoiceKpis:
    calls = queued = answered = contained = short = short_queue = 0
    by_point = {"ivr": 0, "queue": 0, "ringing": 0}
    in_time = 0
    waits: list[float] = []
    handles: list[float] = []
    for cdr in cdrs:
        calls += 1
        was_queued = cdr.queue_entered_at is not None
        queued += was_queued
        if cdr.abandoned and cdr.abandon_point in by_point:
            by_point[cdr.abandon_point] += 1
            is_short = (cdr.abandoned_after_s or 0.0) < short_abandon_s
            short += is_short
            short_queue += is_short and cdr.abandon_point == "queue"
        if cdr.agent_answered_at is not None:
            answered += 1
            if was_queued and cdr.queue_wait_s is not None:
                waits.append(cdr.queue_wait_s)
                in_time += cdr.queue_wait_s <= service_level_s
            if cdr.ended_at is not None:
                handles.append(cdr.talk_s + cdr.hold_s)
        elif not was_queued and cdr.ivr_outcome in _CONTAINED:
            contained += 1
    base = queued - short_queue
    long_queue_abandons = by_point["queue"] - short_queue
    return VoiceKpis(
        calls=calls, queued=queued, answered=answered, abandoned_ivr=by_point["ivr"],
        abandoned_queue=by_point["queue"], abandoned_ringing=by_point["ringing"],
        short_abandons=short, ivr_contained=contained,
        abandon_rate=long_queue_abandons / base if base else None,
        service_level=in_time / base if base else None,
        asa_s=sum(waits) / len(waits) if waits else None,
        aht_s=sum(handles) / len(handles) if handles else None,
    )  # fmt: skip
