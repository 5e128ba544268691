"""The orchestrator with a real media process, a real database (SQLite and PostgreSQL)
and routing: a call comes in, is matched to its customer, queued, offered, rung on the
agent's phone, bridged with real RTP both ways, recorded, and ends with the interaction
in the right state. A media process killed mid-call ends its calls and nothing else."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from jietong.agents.model import AgentState
from jietong.interactions.model import InteractionState
from jietong.routing.model import QueueSettings
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_routing import RoutingEntryRow, RoutingOfferRow
from jietong.telephony import recording
from jietong.telephony.orchestrator.live import Phase
from tests.integration.routing.world import World

from .peers import dominant_hz, rms
from .voice_harness import (
    read_wav,
    start_voice_world,
    stop_voice_world,
    wait_db,
    wait_for,
)

pytestmark = pytest.mark.slow
NO_ANNOUNCEMENTS = {"first_announcement_s": 600.0, "announce_every_s": 600.0}


def _world(platform) -> World:
    world = World(platform, slug="voice")
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    world.agent("bob")
    return world


def _interaction(world: World, iid: str) -> InteractionRow:
    return world.interaction(iid)


def test_inbound_call_reaches_the_agents_phone_and_is_recorded(platform, tmp_path):
    world = _world(platform)
    world.login("ann")
    customer_id = None

    async def scenario():
        nonlocal customer_id
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        customer_id = voice.add_customer("王芳", "+8613800138000")
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            # The caller id comes in national format: normalised to E.164, it pops Wang Fang.
            caller = await voice.call_in("c1", "13800138000", name="Wang")
            live = voice.live("c1")
            assert live is not None and live.contact is not None
            assert live.contact.customer_id == customer_id and live.contact.known_customer
            iid = live.contact.interaction_id
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            before_offer = len(caller.received)
            await voice.route()  # routing offers the call to ann: her phone rings
            rung = await wait_for(lambda: voice.signaling.originated)
            assert rung[0].target.kind == "phone" and rung[0].target.value == "ann-phone"
            assert rung[0].caller_id == "+8613800138000"
            assert rung[0].timeout_s == QueueSettings().ring_timeout_seconds
            assert len(caller.received) > before_offer  # music on hold kept flowing
            agent = await voice.phone_answers(rung[0])
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            assert _interaction(world, iid).state == "connected"
            assert _interaction(world, iid).assigned_user_id == world.agents["ann"].user_id
            mark_caller, mark_agent = len(caller.received), len(agent.received)
            await asyncio.sleep(1.5)
            # Each side hears the other: the bridge carries real audio both ways.
            assert abs(dominant_hz(caller.heard(len(caller.received) - mark_caller)) - 1000) < 30
            assert abs(dominant_hz(agent.heard(len(agent.received) - mark_agent)) - 440) < 30
            world.advance(42)  # the database clock: 42 s of conversation on the CDR
            # The caller hangs up: the agent's phone is released, the interaction wraps up.
            await voice.service.call_ended("c1", "remote_bye", None)
            assert rung[0].call_id in voice.signaling.hangups
            assert "c1" not in voice.signaling.hangups  # their BYE ended it already
            assert _interaction(world, iid).state == "wrap_up"
            assert world.state_of("ann") == AgentState.BUSY.value or world.state_of("ann") in (
                "wrap_up",
                "busy",
            )
            with world.uow() as uow:
                files = recording.list_recordings(uow, world.admin, voice.media_root, iid)
            assert len(files) == 1
            samples = read_wav(files[0].path)
            assert len(samples) > 8000  # more than a second of conversation
            assert rms(samples) > 500
            assert voice.service.calls.all() == []
            cdr = voice.cdr("c1")
            assert (cdr.caller, cdr.customer_id, cdr.interaction_id) == (
                "+8613800138000",
                customer_id,
                iid,
            )
            assert cdr.queue_id == world.queues["Calls"] and cdr.offers == 1
            assert cdr.agent_user_id == world.agents["ann"].user_id
            assert cdr.ivr_outcome == "queue" and cdr.end_cause == "customer_hangup"
            assert not cdr.abandoned and cdr.talk_s == pytest.approx(42, abs=0.5)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_phone_that_refuses_declines_the_offer_and_the_next_agent_is_rung(platform, tmp_path):
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        ann, bob = world.agents["ann"].user_id, world.agents["bob"].user_id
        voice.phones.by_agent.update({ann: "ann-phone", bob: "bob-phone"})
        try:
            await voice.call_in("c2", "13912345678")
            live = voice.live("c2")
            assert live is not None and live.contact is not None
            iid = live.contact.interaction_id
            assert not live.contact.known_customer  # a new number becomes a new customer
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            await voice.route()
            first = (await wait_for(lambda: voice.signaling.originated))[0]
            assert first.target.value == "ann-phone"
            world.login("bob")
            # Ann's phone answers 486 Busy: the offer is declined at once, not left to time out.
            await voice.service.call_ended(first.call_id, "rejected", 486)
            with world.uow() as uow:
                offer = uow.session.query(RoutingOfferRow).filter_by(interaction_id=iid).one()
            assert offer.state == "declined"
            assert live.phase is Phase.QUEUED and live.agent is None
            await voice.route()
            await voice.publish()
            second = await wait_for(
                lambda: [o for o in voice.signaling.originated if o.target.value == "bob-phone"]
            )
            await voice.phone_answers(second[0])
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            assert _interaction(world, iid).assigned_user_id == bob
            # Bob hangs up: the caller is released and the interaction wraps up.
            await voice.service.call_ended(second[0].call_id, "remote_bye", None)
            assert "c2" in voice.signaling.hangups
            assert _interaction(world, iid).state == "wrap_up"
            cdr = voice.cdr("c2")
            assert cdr.offers == 2 and cdr.agent_user_id == bob
            assert cdr.end_cause == "agent_hangup"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_caller_hanging_up_in_the_queue_abandons_and_stops_the_ringing(platform, tmp_path):
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            await voice.call_in("c3", "13700000001")
            live = voice.live("c3")
            assert live is not None and live.contact is not None
            iid = live.contact.interaction_id
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            await voice.route()
            rung = (await wait_for(lambda: voice.signaling.originated))[0]
            await voice.service.call_ended("c3", "remote_bye", None)
            assert rung.call_id in voice.signaling.hangups  # the phone stops ringing
            assert _interaction(world, iid).state == InteractionState.ABANDONED.value
            await voice.route()
            with world.uow() as uow:
                entry = uow.session.query(RoutingEntryRow).filter_by(interaction_id=iid).one()
            assert entry.state == "removed"
            cdr = voice.cdr("c3")
            assert cdr.abandoned and cdr.abandon_point == "queue"
            assert cdr.end_cause == "customer_hangup" and cdr.agent_user_id is None
            # A late 200 OK from the phone is hung up, not bridged to nobody.
            await voice.service.call_answered(rung.call_id, rung.local)
            assert voice.signaling.hangups.count(rung.call_id) >= 2
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_media_process_killed_mid_call_ends_its_calls_only(platform, tmp_path):
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(
            world, tmp_path / "media", media_processes=2, options=NO_ANNOUNCEMENTS
        )
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            await voice.call_in("k1", "13700000002")
            other_caller = await voice.call_in("k2", "13700000003")
            doomed, survivor = voice.live("k1"), voice.live("k2")
            assert doomed is not None and survivor is not None
            assert doomed.media is not survivor.media  # spread over both processes
            iid = doomed.contact.interaction_id  # type: ignore[union-attr]
            other = survivor.contact.interaction_id  # type: ignore[union-attr]
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            await wait_db(lambda: _interaction(world, other).state == "queued")
            await voice.route()
            rung = (await wait_for(lambda: voice.signaling.originated))[0]
            answered_call = voice.service.calls.by_leg_call(rung.call_id)
            assert answered_call is not None
            bridged = answered_call[0]
            await voice.phone_answers(rung)
            await wait_for(lambda: bridged.phase is Phase.BRIDGED, timeout=30)
            process = voice.processes[voice.clients.index(bridged.media)]
            os.kill(process.pid, signal.SIGKILL)
            await wait_for(lambda: bridged.gone.is_set(), timeout=10)
            assert bridged.end_cause == "media_lost"
            assert (
                bridged.key in voice.signaling.hangups and rung.call_id in voice.signaling.hangups
            )
            bridged_iid = bridged.interaction_id
            assert bridged_iid is not None
            await wait_db(lambda: _interaction(world, bridged_iid).state == "wrap_up")
            assert voice.cdr(bridged.key).end_cause == "media_lost"
            # The other call, on the other media process, still hears its music on hold.
            waiting = survivor if bridged is doomed else doomed
            waiting_peer = other_caller if waiting is survivor else None
            assert not waiting.gone.is_set() and waiting.key not in voice.signaling.hangups
            assert voice.cdr(waiting.key).ended_at is None
            if waiting_peer is not None:
                mark = len(waiting_peer.received)
                await asyncio.sleep(0.5)
                assert len(waiting_peer.received) - mark > 15
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_phone_not_answering_in_time_is_hung_up_and_the_call_reoffered(platform, tmp_path):
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        ann, bob = world.agents["ann"].user_id, world.agents["bob"].user_id
        voice.phones.by_agent.update({ann: "ann-phone", bob: "bob-phone"})
        try:
            await voice.call_in("n1", "13700000009")
            iid = voice.contacts["n1"].interaction_id
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            first = (await voice.route_until(lambda: voice.signaling.originated))[0]
            assert first.target.value == "ann-phone"
            world.login("bob")
            world.advance(QueueSettings().ring_timeout_seconds + 1)  # nobody picks up
            second = (
                await voice.route_until(
                    lambda: [o for o in voice.signaling.originated if o.target.value == "bob-phone"]
                )
            )[0]
            assert first.call_id in voice.signaling.hangups  # ann's phone stopped ringing
            with world.uow() as uow:
                states = {
                    o.agent_id: o.state
                    for o in uow.session.query(RoutingOfferRow).filter_by(interaction_id=iid)
                }
            assert states[ann] == "expired" and states[bob] == "pending"
            await voice.phone_answers(second)
            live = voice.live("n1")
            assert live is not None
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            await voice.service.call_ended("n1", "remote_bye", None)
            cdr = voice.cdr("n1")
            assert cdr.offers == 2 and cdr.agent_user_id == bob
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_answer_on_the_desk_then_the_phone_bridges_without_a_second_accept(platform, tmp_path):
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        ann = world.agents["ann"].user_id
        voice.phones.by_agent[ann] = "ann-phone"
        try:
            await voice.call_in("d1", "13700000010")
            iid = voice.contacts["d1"].interaction_id
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            rung = (await voice.route_until(lambda: voice.signaling.originated))[0]
            world.accept("ann")  # the desk's Answer: routing's accept
            await voice.publish()
            live = voice.live("d1")
            assert live is not None and live.agent is not None
            await wait_for(lambda: live.agent is not None and live.agent.accepted)
            await voice.phone_answers(rung)  # the phone picks up afterwards
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            assert rung.call_id not in voice.signaling.hangups
            assert _interaction(world, iid).state == "connected"
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_an_offer_whose_event_never_arrives_still_rings_the_phone(platform, tmp_path):
    """Events only make voice quick: an offer made while the bus is silent (another
    process's relay, a hiccup) is found by the once-a-second sweep, and rung once."""
    world = _world(platform)
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=NO_ANNOUNCEMENTS)
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            await voice.call_in("s1", "13700000012")
            iid = voice.contacts["s1"].interaction_id
            await wait_db(lambda: _interaction(world, iid).state == "queued")
            for _ in range(5):  # routing cycles, their events never published
                await asyncio.to_thread(world.cycle)
                if _interaction(world, iid).state == "offered":
                    break
            rung = await wait_for(lambda: voice.signaling.originated, timeout=10)
            assert rung[0].target.value == "ann-phone"
            await voice.publish()  # the late event changes nothing: rung once
            await asyncio.sleep(2.5)
            assert len(voice.signaling.originated) == 1
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())
