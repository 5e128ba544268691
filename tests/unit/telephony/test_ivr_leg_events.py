"""LegEvents: one media client's event stream sorted per leg, and when a leg is gone."""

from __future__ import annotations

import asyncio

import pytest

from jietong.telephony.ivr.media_audio import LegEvents
from jietong.telephony.media import control as c
from jietong.telephony.media.client import LostLeg, MediaProcessLost
from jietong.telephony.ports import CallGone


def dtmf(leg: str, digit: str) -> c.DtmfReceived:
    return c.DtmfReceived(leg, digit, 100)


def test_events_reach_their_own_leg_in_order() -> None:
    async def scenario() -> list[object]:
        events = LegEvents()
        events.register("a")
        events.register("b")
        events.dispatch(dtmf("a", "1"))
        events.dispatch(dtmf("b", "9"))
        events.dispatch(dtmf("zz", "5"))  # another controller's leg: ignored
        events.dispatch(c.PromptFinished("a", "p1"))
        events.push_front("a", [dtmf("a", "0")])
        got = [await events.next("a", 0.1) for _ in range(3)]
        got.append(await events.next("a", 0.05))  # nothing more: a timeout
        got.append(await events.next("b", 0.1))
        return got

    assert asyncio.run(scenario()) == [
        dtmf("a", "0"), dtmf("a", "1"), c.PromptFinished("a", "p1"), None, dtmf("b", "9"),
    ]  # fmt: skip


def test_a_waiting_step_is_woken_when_its_leg_goes() -> None:
    async def scenario() -> None:
        events = LegEvents()
        events.register("a")
        waiting = asyncio.create_task(events.next("a", None))
        await asyncio.sleep(0.01)
        events.dispatch(c.LegTimedOut("a", 30.0))
        with pytest.raises(CallGone, match="no RTP"):
            await waiting
        with pytest.raises(CallGone):
            await events.next("a", 1.0)

    asyncio.run(scenario())


def test_a_lost_media_process_takes_every_leg_and_later_ones() -> None:
    async def scenario() -> None:
        events = LegEvents()
        events.register("a")
        events.gone("a", "signaling: BYE")
        events.register("b")
        lost = MediaProcessLost("media-0", "killed", (LostLeg("b", "c1", None),), (), ())
        events.dispatch(lost)
        events.register("c")  # created after the loss was seen
        for leg, reason in (("a", "BYE"), ("b", "killed"), ("c", "media process lost")):
            with pytest.raises(CallGone, match=reason):
                await events.next(leg, 0.1)

    asyncio.run(scenario())
