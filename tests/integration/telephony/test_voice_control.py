"""In-call control on a bridged call with real RTP: hold (music, the agent no longer hears
the caller), mute, recording pause (silence in the file), attended transfer to a number,
supervisor listen and whisper; who may do it (the agent on the call, supervisors; not another agent,
not another organisation); every control audited."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import select

from jietong.core.errors import NotFound, PermissionDenied
from jietong.core.tenancy import Role
from jietong.storage.tables import AuditRow
from jietong.telephony import recording
from jietong.telephony.orchestrator.control import CallControl
from jietong.telephony.orchestrator.live import LegRole, Mode, Phase
from jietong.web.desktop.schemas import TransferIn, TransferTarget
from jietong.web.desktop.transfer import transfer as desk_transfer
from tests.conftest import make_tenant
from tests.integration.routing.world import World

from .peers import RtpPeer, band_level, dominant_hz, rms
from .voice_harness import read_wav, start_voice_world, stop_voice_world, wait_db, wait_for

pytestmark = pytest.mark.slow
QUIET = {"first_announcement_s": 600.0, "announce_every_s": 600.0}


async def _bridged(voice, world: World, key: str):
    caller = await voice.call_in(key, "13800000011")
    live = voice.live(key)
    iid = live.contact.interaction_id
    await wait_db(lambda: world.interaction(iid).state == "queued")
    rung = (await voice.route_until(lambda: voice.signaling.originated))[0]
    agent = await voice.phone_answers(rung)
    await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
    return live, iid, caller, agent


def _what_is_heard(peer: RtpPeer, since: int, live) -> str:
    """For a failed 'hears the agent' check (seen twice on loaded CI machines): what the
    caller got in their last half second, and where the call stood."""
    heard = peer.heard(25)
    return (
        f"last 25 packets: dominant {dominant_hz(heard):.0f} Hz, 1500 Hz level "
        f"{band_level(heard, 1500):.2f}, rms {rms(heard):.0f}; {len(peer.received) - since} "
        f"packets since the bridge; phase {live.phase}, caller held {live.caller.held}, "
        f"bridge {live.bridge_id}"
    )


def test_hold_mute_pause_transfer_and_listen(platform, tmp_path):
    world = World(platform, slug="voice-ctl")
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    world.agent("eve")  # another agent of the same team
    boss = world.agent("boss", role=Role.SUPERVISOR)
    world.login("ann")
    outsider = make_tenant(platform, "voice-ctl-other").admin

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=QUIET)
        ann = world.agents["ann"]
        voice.phones.by_agent.update({ann.user_id: "ann-phone", boss.user_id: "boss-phone"})
        control = CallControl(voice.service)
        try:
            live, iid, caller, agent = await _bridged(voice, world, "x1")
            # Who may: not another agent (403), not another organisation (404).
            with pytest.raises(PermissionDenied):
                await control.hold(world.agents["eve"], iid, True)
            with pytest.raises(NotFound):
                await control.hold(outsider, iid, True)
            # Hold: the agent hears music on hold, no longer the caller's 440 Hz.
            view = await control.hold(ann, iid, True)
            assert view.held
            await asyncio.sleep(0.4)
            mark = len(agent.received)
            await asyncio.sleep(1.0)
            heard = agent.heard(len(agent.received) - mark)
            assert band_level(heard, 440) < 0.2
            assert (await control.hold(ann, iid, False)).held is False
            # Mute: the caller no longer hears the agent's 1000 Hz.
            await control.mute(ann, iid, True)
            await asyncio.sleep(0.4)
            mark = len(caller.received)
            await asyncio.sleep(1.0)
            assert rms(caller.heard(len(caller.received) - mark)) < 200
            await control.mute(ann, iid, False)
            # Recording paused while a card number is read out: silence in the file.
            await control.recording(ann, iid, True)
            await asyncio.sleep(1.5)
            await control.recording(ann, iid, False)
            await asyncio.sleep(1.2)
            # A supervisor listens on their own phone (muted into the bridge).
            await control.supervise(boss, iid, Mode.LISTEN)
            sup = await wait_for(
                lambda: [o for o in voice.signaling.originated if o.target.value == "boss-phone"]
            )
            sup_peer = await voice.phone_answers(sup[0], freq=2000.0)
            await wait_for(lambda: any(leg.answered for leg in live.others))
            await asyncio.sleep(1.2)
            assert abs(len(sup_peer.received) - 60) < 30  # hears the call
            mark = len(caller.received)
            await asyncio.sleep(1.0)
            assert band_level(caller.heard(len(caller.received) - mark), 2000) < 0.2
            # Whisper: the agent now hears the supervisor's 2000 Hz; the caller still not.
            await control.supervise(boss, iid, Mode.WHISPER)
            await asyncio.sleep(0.4)
            caller_mark, agent_mark = len(caller.received), len(agent.received)
            await asyncio.sleep(1.0)
            assert band_level(agent.heard(len(agent.received) - agent_mark), 2000) > 0.2
            assert band_level(caller.heard(len(caller.received) - caller_mark), 2000) < 0.2
            # Attended transfer to a number: the caller waits on hold while the agent
            # speaks to the number; completing leaves caller and number together.
            await control.transfer_to_number(ann, iid, "13900000000", attended=True)
            ext = await wait_for(
                lambda: [o for o in voice.signaling.originated if o.target.kind == "number"]
            )
            assert ext[0].target.value == "+8613900000000"
            await voice.phone_answers(ext[0], freq=600.0)
            await wait_for(
                lambda: any(leg.role is LegRole.EXTERNAL and leg.answered for leg in live.others)
            )
            view = await control.complete_transfer(ann, iid)
            assert view.agent_id is None and not view.held
            assert voice.signaling.originated[0].call_id in voice.signaling.hangups
            assert world.interaction(iid).state == "wrap_up"  # the agent's part is done
            await voice.service.call_ended("x1", "remote_bye", None)
            assert ext[0].call_id in voice.signaling.hangups
            cdr = voice.cdr("x1")
            assert cdr.transfers == 1 and cdr.holds == 1
            with world.uow() as uow:
                files = recording.list_recordings(uow, world.admin, voice.media_root, iid)
                actions = set(
                    uow.session.scalars(
                        select(AuditRow.action).where(AuditRow.entity_id == iid)
                    ).all()
                )
            samples = read_wav(files[0].path)
            tenths = [rms(samples[i : i + 800]) for i in range(0, len(samples) - 800, 800)]
            # The 1.5 s paused: at least a second of exact silence; talk around it.
            assert sum(1 for level in tenths if level < 1.0) >= 10
            assert max(tenths) > 1000
            assert {
                "call.hold",
                "call.resume",
                "call.mute",
                "call.unmute",
                "call.recording_pause",
                "call.recording_resume",
                "call.supervise",
                "call.transfer",
                "call.transfer_complete",
            } <= actions
            assert not np.isnan(samples).any()
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_transfer_through_routing_rings_the_next_agent(platform, tmp_path):
    """The desk's transfer (any channel) puts the interaction back to routing: voice
    releases the first agent's phone, the caller waits with music, the next agent's
    phone rings and is bridged."""
    world = World(platform, slug="voice-xfer")
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    world.agent("bob")
    world.login("ann")

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=QUIET)
        ann, bob = world.agents["ann"], world.agents["bob"]
        voice.phones.by_agent.update({ann.user_id: "ann-phone", bob.user_id: "bob-phone"})
        try:
            live, iid, caller, _agent = await _bridged(voice, world, "t1")
            first = voice.signaling.originated[0]
            world.login("bob")
            with world.uow() as uow:  # ann hands the call to bob on her desk
                desk_transfer(
                    uow, ann, iid, TransferIn(target=TransferTarget.AGENT, target_id=bob.user_id)
                )
            await voice.publish()
            await wait_for(lambda: first.call_id in voice.signaling.hangups)
            # Back in the queue, or already ringing bob (the transfer offered it to him).
            assert live.agent is None or live.agent.user_id == bob.user_id
            second = (
                await voice.route_until(
                    lambda: [o for o in voice.signaling.originated if o.target.value == "bob-phone"]
                )
            )[0]
            await voice.phone_answers(second, freq=1500.0)
            await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
            assert world.interaction(iid).assigned_user_id == bob.user_id
            since = len(caller.received)
            # Bob is heard: the last half second the caller received is his tone (polled;
            # on a loaded machine the frames right after the bridge may still be music).
            await wait_for(
                lambda: band_level(caller.heard(25), 1500) > 0.5,
                timeout=15,
                state=lambda: _what_is_heard(caller, since, live),
            )
            await voice.service.call_ended("t1", "remote_bye", None)
            assert second.call_id in voice.signaling.hangups
            assert voice.cdr("t1").agent_user_id in (ann.user_id, bob.user_id)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())
