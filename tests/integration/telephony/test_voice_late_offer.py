"""A desk phone dialling out with a late offer (INVITE without SDP), through the
orchestrator with a real media process and real RTP, SQLite and PostgreSQL: the phone's
media leg is made without an address; the phone hears nothing until its answer (the
ACK) gives one; then the conversation flows both ways."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jietong.app.platform import Platform
from jietong.telephony.orchestrator.live import Phase
from jietong.telephony.ports import IncomingCall, MediaEndpoint, SipPeer, Target
from jietong.telephony.sip.signaling import LATE_OFFER
from tests.integration.routing.world import World

from .peers import RtpPeer, dominant_hz
from .voice_harness import start_voice_world, stop_voice_world, wait_for

pytestmark = pytest.mark.slow


def test_a_phones_late_offer_call_gets_audio_once_the_ack_answers(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-late")
    world.queue("Calls", channels=("call",))
    world.agent("ann")

    async def scenario() -> None:
        voice = await start_voice_world(world, tmp_path / "media")
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        phone = RtpPeer(1000.0, 78)
        voice.pacer.peers.append(phone)
        try:
            await voice.service.call_offered(
                IncomingCall(
                    call_id="p1", sip_call_id="sip-p1", org_id=world.org_id,
                    caller=SipPeer("sip:ann-phone@x", None, "ann-phone", ("127.0.0.1", 5062)),
                    dialled="13912345678", remote_media=LATE_OFFER, phone_user="ann-phone",
                    late_offer=True,
                )
            )  # fmt: skip
            out = (await wait_for(lambda: voice.signaling.originated))[0]
            assert out.target == Target("number", "+8613912345678")
            live = voice.service.calls.by_leg_call("p1")[0]  # type: ignore[index]
            customer = await voice.phone_answers(out, freq=440.0)
            # Our 200 to the phone: the offer, in the one codec of a late offer.
            offer = await wait_for(lambda: voice.signaling.answered.get("p1"))
            assert offer.codecs == (("PCMU", 0),)
            phone.target = (offer.host, offer.port)
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=20)
            await asyncio.sleep(0.5)
            assert phone.received == []  # no address for the phone yet: nothing sent to it
            # The ACK's answer names the phone's address.
            await voice.service.call_answered("p1", MediaEndpoint(*phone.address))
            assert live.phase is Phase.BRIDGED  # a media update, not a second answer
            await wait_for(lambda: len(phone.received) > 25, timeout=5)
            mark_phone, mark_customer = len(phone.received), len(customer.received)
            await asyncio.sleep(1.0)
            assert abs(dominant_hz(phone.heard(len(phone.received) - mark_phone)) - 440) < 30
            heard = customer.heard(len(customer.received) - mark_customer)
            assert abs(dominant_hz(heard) - 1000) < 30
            assert len(voice.signaling.originated) == 1  # the number was not dialled twice
            await voice.service.call_ended("p1", "remote_bye", None)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())
