"""End-of-leg call quality reaches the call record: a bridged call over real RTP ends,
and its customer and agent legs carry the media engine's jitter and loss (RTCP round
trip and MOS stay empty: these peers send no RTCP)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from jietong.storage.tables_voice import VoiceLegRow
from jietong.telephony.calls.model import LegQuality
from jietong.telephony.media import rtcp
from jietong.telephony.media.control import LegStats
from jietong.telephony.orchestrator.cdr_log import leg_quality
from jietong.telephony.orchestrator.control import CallControl
from jietong.telephony.orchestrator.live import Phase
from tests.integration.routing.world import World

from .voice_harness import start_voice_world, stop_voice_world, wait_db, wait_for

pytestmark = pytest.mark.slow
QUIET = {"first_announcement_s": 600.0, "announce_every_s": 600.0}


def test_ended_call_legs_carry_jitter_and_loss(platform, tmp_path):
    world = World(platform, slug="voice-quality")
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=QUIET)
        ann = world.agents["ann"]
        voice.phones.by_agent.update({ann.user_id: "ann-phone"})
        try:
            await voice.call_in("q1", "13800000013")
            live = voice.live("q1")
            iid = live.contact.interaction_id
            await wait_db(lambda: world.interaction(iid).state == "queued")
            rung = (await voice.route_until(lambda: voice.signaling.originated))[0]
            await voice.phone_answers(rung)
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            await asyncio.sleep(1.0)
            await CallControl(voice.service).hangup(ann, iid)
            cdr_call = voice.contacts["q1"].cdr_call_id

            def measured():
                with world.uow() as uow:
                    rows = uow.session.scalars(
                        select(VoiceLegRow).where(VoiceLegRow.call_id == cdr_call)
                    ).all()
                    return rows if rows and all(r.jitter_ms is not None for r in rows) else None

            return await wait_db(measured)
        finally:
            await stop_voice_world(voice)

    legs = asyncio.run(scenario())
    assert {leg.kind for leg in legs} == {"customer", "agent"}
    for leg in legs:
        assert leg.jitter_ms is not None and 0 <= leg.jitter_ms < 100
        assert leg.loss_in == 0.0  # paced loopback peers lose nothing
        assert leg.rtt_ms is None and leg.mos is None and leg.loss_out is None


def test_leg_quality_keeps_what_was_measured():
    silent = LegStats("a", *([0] * 13), jitter_ms=0.0, fraction_lost=0.0)
    assert leg_quality(silent) == LegQuality()  # heard nothing: nothing to report
    # 97 played, 3 skipped of which 1 came late: 2 of 100 lost; the peer lost 5 of 250.
    heard = LegStats(
        "b", 97, 16684, 3, 1, 0, 0, 0, 0, 250, 0, 0, 0, 20, jitter_ms=3.5,
        fraction_lost=0.5, peer_fraction_lost=0.5, peer_cumulative_lost=5, rtt_ms=40.0,
        mos=1.0,
    )  # fmt: skip
    quality = leg_quality(heard)
    assert quality == LegQuality(3.5, 0.02, 0.02, 40.0, quality.mos)
    assert quality.mos == rtcp.mos_estimate(0.04, 0.02, 0.02)  # whole-leg, not interval
