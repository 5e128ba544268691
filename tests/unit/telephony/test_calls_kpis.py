"""Voice KPIs from CDRs: a hand-computed day, and bounds for any set of CDRs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.telephony.calls.kpis import summarise

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    queue_entered_at: datetime | None = T
    agent_answered_at: datetime | None = None
    queue_wait_s: float | None = None
    talk_s: float = 0.0
    hold_s: float = 0.0
    ended_at: datetime | None = T
    abandoned: bool = False
    abandon_point: str | None = None
    abandoned_after_s: float | None = None
    ivr_outcome: str | None = "queue"


def answered(wait: float, talk: float, hold: float = 0.0) -> Row:
    return Row(agent_answered_at=T, queue_wait_s=wait, talk_s=talk, hold_s=hold)


def abandoned(point: str, after: float) -> Row:
    queued = T if point == "queue" else None
    return Row(queue_entered_at=queued, queue_wait_s=after if queued else None, abandoned=True,
               abandon_point=point, abandoned_after_s=after)  # fmt: skip


def test_a_day_computed_by_hand() -> None:
    day = [
        answered(5, 100), answered(15, 200, 60), answered(40, 300),  # 2 of 3 within 20 s
        abandoned("queue", 3),  # short: excluded from both rates
        abandoned("queue", 50),
        abandoned("ivr", 12), abandoned("ringing", 1),
        Row(queue_entered_at=None, ivr_outcome="voicemail"),  # contained in the IVR
    ]  # fmt: skip
    k = summarise(day, short_abandon_s=5, service_level_s=20)
    assert (k.calls, k.queued, k.answered) == (8, 5, 3)
    assert (k.abandoned_ivr, k.abandoned_queue, k.abandoned_ringing) == (1, 2, 1)
    assert k.short_abandons == 2  # the 3 s queue abandon and the 1 s ringing one
    assert k.ivr_contained == 1
    assert k.abandon_rate == pytest.approx(1 / 4)  # 1 long queue abandon / (5 - 1)
    assert k.service_level == pytest.approx(2 / 4)
    assert k.asa_s == pytest.approx(20.0)  # (5 + 15 + 40) / 3
    assert k.aht_s == pytest.approx(220.0)  # (100 + 260 + 300) / 3
    # The report's threshold, not the stored flag, decides what is short.
    assert summarise(day, short_abandon_s=60).abandon_rate == pytest.approx(0 / 3)


def test_no_calls_no_rates() -> None:
    k = summarise([])
    assert k.calls == 0 and k.abandon_rate is None and k.service_level is None
    assert k.asa_s is None and k.aht_s is None


_ROWS = st.lists(
    st.one_of(
        st.builds(answered, st.floats(0, 600), st.floats(0, 3600), st.floats(0, 600)),
        st.builds(abandoned, st.sampled_from(["ivr", "queue", "ringing"]), st.floats(0, 600)),
    ),
    max_size=50,
)


@given(_ROWS, st.floats(0, 60), st.floats(0, 120))
def test_rates_are_fractions_and_counts_add_up(rows: list[Row], short: float, sl: float) -> None:
    k = summarise(rows, short_abandon_s=short, service_level_s=sl)
    for rate in (k.abandon_rate, k.service_level):
        assert rate is None or 0 <= rate <= 1
    assert k.answered + k.abandoned_ivr + k.abandoned_queue + k.abandoned_ringing == k.calls
    assert k.short_abandons <= k.abandoned_ivr + k.abandoned_queue + k.abandoned_ringing
    if k.abandon_rate is not None and k.service_level is not None:
        assert k.abandon_rate + k.service_level <= 1 + 1e-9  # disjoint parts of one base
