"""Outcomes that outlive the call, with real RTP and the real IVR interpreter: a voicemail
becomes a message with the WAV attached and queued work; "press 1 to be called back"
turns the waiting caller into a callback keeping their place; an agent accepting a
callback gets their phone rung first, then the customer, and both are bridged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from jietong.storage.tables import AttachmentRow, MessageRow
from jietong.storage.tables_routing import RoutingEntryRow
from jietong.telephony.ivr.prompts import PromptLibrary
from jietong.telephony.ivr.schema import Flow
from jietong.telephony.orchestrator.flows import FlowIvr
from jietong.telephony.orchestrator.live import Phase
from jietong.telephony.ports import IncomingCall, MediaEndpoint, SipPeer, Target
from jietong.telephony.service import Database
from tests.integration.routing.world import World

from .peers import RtpPeer, dominant_hz
from .voice_harness import start_voice_world, stop_voice_world, wait_db, wait_for

pytestmark = pytest.mark.slow


def _world(platform, slug: str) -> World:
    world = World(platform, slug=slug)
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    return world


def _entry(world: World, iid: str) -> RoutingEntryRow | None:
    with world.uow() as uow:
        return uow.session.scalar(
            select(RoutingEntryRow).where(RoutingEntryRow.interaction_id == iid)
        )


def _flow_ivr(media_root: Path, flow: dict) -> object:
    def build(db: Database) -> FlowIvr:
        ivr = FlowIvr(
            db, PromptLibrary(media_root / "prompts"), media_root / "voicemail", now=db.clock
        )
        ivr_flow = Flow.model_validate(flow)

        async def fixed(call, audio, contact, on_node):  # the flow under test, whatever is dialled
            from jietong.telephony.ivr.interpreter import IvrContext, run_flow

            outcome = await run_flow(
                ivr_flow,
                IvrContext(
                    audio,
                    ivr.prompts,
                    "+8613800000000",
                    media_root / "voicemail",
                    db.clock,
                    on_node=on_node,
                ),
            )
            from jietong.telephony.orchestrator.contracts import IvrResult

            return IvrResult(
                outcome.kind if outcome.kind != "abandoned" else "hangup",  # type: ignore[arg-type]
                queue_id=outcome.queue_id,
                voicemail=outcome.recording,
                variables=outcome.variables,
            )

        return fixed  # type: ignore[return-value]

    return build


def test_voicemail_becomes_a_message_with_the_wav_and_queued_work(platform, tmp_path):
    world = _world(platform, "voice-vm")
    queue_id = world.queues["Calls"]
    flow = {
        "start": "vm",
        "languages": ["en"],
        "nodes": {
            "vm": {
                "type": "voicemail",
                "prompt": {"text": {"en": "Leave a message."}},
                "max_seconds": 3,
                "queue_id": queue_id,
            }
        },
    }
    media_root = tmp_path / "media"

    async def scenario():
        voice = await start_voice_world(world, media_root, ivr=_flow_ivr(media_root, flow))
        try:
            await voice.call_in("v1", "13800000021")
            iid = voice.contacts["v1"].interaction_id
            # The caller speaks (the peer's 440 Hz) until the 3 s limit: then it hangs up.
            await wait_for(lambda: "v1" in voice.signaling.hangups, timeout=30)
            with world.uow() as uow:
                message = uow.session.scalar(
                    select(MessageRow).where(MessageRow.interaction_id == iid)
                )
                attachment = uow.session.scalar(
                    select(AttachmentRow).where(AttachmentRow.interaction_id == iid)
                )
            assert message is not None and message.body_text.startswith("Voicemail (")
            seconds = float(message.body_text.removeprefix("Voicemail (").split(" s")[0])
            assert 1 <= seconds <= 4  # the 3 s limit (WAV frames are 8 kHz samples)
            assert attachment is not None and attachment.message_id == message.id
            assert attachment.content_type.endswith("wav") and attachment.size_bytes > 16000
            entry = _entry(world, iid)
            assert entry is not None and entry.kind == "voicemail"
            assert world.interaction(iid).state == "queued"  # work for an agent, not abandoned
            assert voice.cdr("v1").ivr_outcome == "voicemail"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_press_1_turns_the_waiting_caller_into_a_callback_that_keeps_its_place(platform, tmp_path):
    world = _world(platform, "voice-cb")

    async def scenario():
        voice = await start_voice_world(
            world,
            tmp_path / "media",
            options={"first_announcement_s": 0.5, "announce_every_s": 600.0},
        )
        try:
            caller = await voice.call_in("b1", "13800000031")
            iid = voice.contacts["b1"].interaction_id
            await wait_db(lambda: world.interaction(iid).state == "queued")
            await voice.route()  # the entry; nobody is available
            entry = await wait_db(lambda: _entry(world, iid))
            enqueued = entry.enqueued_at
            # The announcement plays; the caller presses 1 (RFC 4733 over real RTP).
            await asyncio.sleep(2.0)
            caller.press("1")
            await wait_for(lambda: "b1" in voice.signaling.hangups, timeout=30)
            entry = _entry(world, iid)
            assert entry is not None and entry.kind == "callback"
            assert entry.callback_to == "+8613800000031" and entry.callback_channel == "call"
            assert entry.enqueued_at == enqueued  # same place in the queue
            assert world.interaction(iid).state == "queued"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_accepted_callback_rings_the_agent_then_the_customer_and_bridges(platform, tmp_path):
    world = _world(platform, "voice-cbo")
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(
            world, tmp_path / "media", options={"first_announcement_s": 600.0}
        )
        ann = world.agents["ann"]
        voice.phones.by_agent[ann.user_id] = "ann-phone"
        try:
            from jietong.routing import callbacks

            with world.uow() as uow:
                entry = callbacks.schedule_callback(
                    uow, world.admin, queue_id=world.queues["Calls"], channel="call",
                    customer_id=None, to="+8613800000041", at=None, subject="call me",
                    now=world.now,
                )  # fmt: skip
            iid = entry.interaction_id
            await voice.route()  # offered to ann as a callback: no phone rings for an offer
            assert voice.signaling.originated == []
            world.accept("ann")  # on the desk: routing says CallbackStarted
            await voice.publish()
            agent_leg = (await wait_for(lambda: voice.signaling.originated))[0]
            assert agent_leg.target.value == "ann-phone"
            await voice.phone_answers(agent_leg)
            customer_leg = await wait_for(
                lambda: [o for o in voice.signaling.originated if o.target.kind == "number"]
            )
            assert customer_leg[0].target.value == "+8613800000041"
            await voice.phone_answers(customer_leg[0], freq=500.0)
            live = voice.service.calls.by_interaction(iid)
            assert live is not None
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=20)
            await voice.service.call_ended(customer_leg[0].call_id, "remote_bye", None)
            assert agent_leg.call_id in voice.signaling.hangups
            assert world.interaction(iid).state == "wrap_up"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_an_agent_dials_a_number_from_their_phone(platform, tmp_path):
    world = _world(platform, "voice-out")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media")
        ann = world.agents["ann"]
        voice.phones.by_agent[ann.user_id] = "ann-phone"
        customer_id = voice.add_customer("李伟", "+8613912345678")
        phone = RtpPeer(1000.0, 77)
        voice.pacer.peers.append(phone)
        try:
            await voice.service.call_offered(
                IncomingCall(
                    call_id="p1", sip_call_id="sip-p1", org_id=world.org_id,
                    caller=SipPeer("sip:ann-phone@x", None, "ann-phone", ("127.0.0.1", 5062)),
                    dialled="13912345678", remote_media=MediaEndpoint(*phone.address),
                    phone_user="ann-phone",
                )
            )  # fmt: skip
            out = (await wait_for(lambda: voice.signaling.originated))[0]
            assert out.target == Target("number", "+8613912345678")
            assert "p1" in voice.signaling.rung and "p1" not in voice.signaling.answered
            live = voice.service.calls.by_leg_call("p1")[0]  # type: ignore[index]
            iid = live.interaction_id
            assert world.interaction(iid).direction == "outbound"
            assert world.interaction(iid).customer_id == customer_id
            customer = await voice.phone_answers(out, freq=440.0)
            answer = await wait_for(lambda: voice.signaling.answered.get("p1"))
            phone.target = (answer.host, answer.port)
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=20)
            assert world.interaction(iid).state == "connected"
            assert world.interaction(iid).assigned_user_id == ann.user_id
            mark = len(customer.received)
            await asyncio.sleep(1.0)
            assert abs(dominant_hz(customer.heard(len(customer.received) - mark)) - 1000) < 30
            await voice.service.call_ended("p1", "remote_bye", None)  # the agent hangs up
            assert out.call_id in voice.signaling.hangups
            assert world.interaction(iid).state == "wrap_up"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())
