"""The orchestrator's pure parts, with hypothesis: the live-call table's indexes stay
consistent under any sequence of changes; announcements say the place and offer the
callback; every end cause maps to a call-model cause; recording paths never leave their
folder and are always playable names; codec choice follows the caller's order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.telephony.calls.model import EndCause
from jietong.telephony.orchestrator.cdr_log import end_cause
from jietong.telephony.orchestrator.live import CallTable, Leg, LegRole, LiveCall
from jietong.telephony.orchestrator.queueing import announcement
from jietong.telephony.orchestrator.records import CallContact, QueuePosition
from jietong.telephony.ports import MediaEndpoint
from jietong.telephony.recording import _NAME, recording_path
from jietong.telephony.service import _choose_codec

ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "leg", "drop", "remove"]), st.integers(0, 4), st.integers(0, 3)
    ),
    max_size=60,
)


def _call(n: int) -> LiveCall:
    caller = Leg(f"call-{n}", f"call-{n}-c", LegRole.CALLER)
    call = LiveCall(f"call-{n}", "org", caller, media=object())  # type: ignore[arg-type]
    call.contact = CallContact(f"i{n}", None, None, None, False)
    return call


@settings(max_examples=200, deadline=None)
@given(ops)
def test_call_table_indexes_only_what_is_live(steps: list[tuple[str, int, int]]) -> None:
    async def run() -> None:  # asyncio objects in LiveCall want a running loop
        table = CallTable()
        calls: dict[int, LiveCall] = {}
        for op, n, m in steps:
            if op == "add" and n not in calls:
                calls[n] = _call(n)
                table.add(calls[n])
                table.set_interaction(calls[n])
            elif op == "leg" and n in calls:
                leg = Leg(f"c{n}-o{m}", f"c{n}-m{m}", LegRole.EXTERNAL)
                if all(x.call_id != leg.call_id for x in calls[n].others):
                    calls[n].others.append(leg)
                    table.add_leg(calls[n], leg)
            elif op == "drop" and n in calls and calls[n].others:
                leg = calls[n].others.pop(m % len(calls[n].others))
                table.drop_leg(leg)
            elif op == "remove" and n in calls:
                table.remove(calls.pop(n))
        assert len(table) == len(calls)
        for n, call in calls.items():
            assert table.by_key(call.key) is call
            assert table.by_interaction(f"i{n}") is call
            for leg in call.legs():
                assert table.by_leg_call(leg.call_id) == (call, leg)
                assert table.by_media_leg(leg.leg_id) == (call, leg)
        gone = {n for _, n, _ in steps} - set(calls)
        for n in gone:
            assert table.by_key(f"call-{n}") is None
            assert table.by_interaction(f"i{n}") is None
            assert table.by_leg_call(f"call-{n}") is None

    asyncio.run(run())


@given(
    st.integers(1, 500),
    st.one_of(st.none(), st.floats(0, 36_000, allow_nan=False)),
    st.sampled_from(["zh-CN", "en"]),
)
def test_announcement_says_the_place_and_offers_the_callback(
    position: int, wait: float | None, language: str
) -> None:
    text = announcement(QueuePosition(position, position - 1, wait), language)
    if language == "en":
        assert f"number {position}" in text and "press 1" in text
    else:
        assert f"还有{position - 1}位" in text and "请按1" in text
    if wait is None:
        assert ("minute" not in text) and ("分钟" not in text)
    else:
        minutes = max(1, round(wait / 60))
        assert str(minutes) in text


@given(st.text(max_size=30))
def test_every_end_cause_maps_to_a_call_model_cause(cause: str) -> None:
    mapped = end_cause(cause)
    assert isinstance(mapped, EndCause)
    # Only the customer's own hang-up may count as an abandon.
    if mapped is EndCause.CUSTOMER_HANGUP:
        assert cause in ("remote_bye", "cancelled", "transfer_target_hangup")


@given(st.text(min_size=0, max_size=300))
def test_recording_paths_stay_in_their_folder_and_are_playable(key: str) -> None:
    org, interaction = "a" * 32, "b" * 32
    path = recording_path(org, interaction, key, datetime(2026, 11, 23, tzinfo=UTC))
    parts = path.split("/")
    assert parts[:4] == ["recordings", org, "2026-11-23", interaction] and len(parts) == 5
    assert _NAME.match(parts[4]) and ".." not in parts[4].removesuffix(".wav")


@given(
    st.lists(
        st.tuples(st.sampled_from(["PCMU", "PCMA", "G722", "opus"]), st.integers(0, 127)),
        max_size=5,
    )
)
def test_codec_choice_is_the_callers_first_g711(codecs: list[tuple[str, int]]) -> None:
    chosen = _choose_codec(MediaEndpoint("192.0.2.1", 4000, tuple(codecs)))  # type: ignore[arg-type]
    ours = [c for c in codecs if c[0] in ("PCMU", "PCMA")]
    assert chosen == (ours[0] if ours else None)
