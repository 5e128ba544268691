"""Within a dialog and before it: INFO DTMF, our re-INVITE (update_media), the caller's
CANCEL (487 and ``cancelled``), our reject, and an INVITE whose SDP we cannot use."""

from __future__ import annotations

import asyncio

from jietong.telephony.ports import MediaEndpoint
from jietong.telephony.sip.model import MemoryDirectory, Trunk

from .sip_harness import SDP_OFFER, RawPhone, Recorder, running, sipp

ORG = "org-1"


def directory() -> MemoryDirectory:
    return MemoryDirectory(
        trunks=[Trunk("trunk-1", ORG, "carrier", "127.0.0.1", allowed_sources=("127.0.0.1",))]
    )


def test_info_dtmf_and_our_reinvite_to_another_media_port(tmp_path) -> None:
    async def scenario():
        recorder = Recorder()
        async with running(directory(), recorder) as signaling:
            task = asyncio.create_task(
                sipp("uac_info_reinvite.xml", signaling.port, workdir=tmp_path)
            )
            ((call_id, digit),) = await recorder.wait_for("dtmf")
            await signaling.update_media(call_id, MediaEndpoint("127.0.0.1", 40002))
            run = await task
            await recorder.wait_for("ended")
            return run, digit, call_id, recorder

    run, digit, call_id, recorder = asyncio.run(scenario())
    assert run.returncode == 0, run.errors  # SIPp checked the re-INVITE's m= line
    assert digit == "7"
    assert recorder.of("ended") == [(call_id, "remote_bye", None)]


def test_a_caller_cancelling_while_it_rings_gets_487_and_we_report_cancelled(tmp_path) -> None:
    async def scenario():
        recorder = Recorder(policy="hold")
        async with running(directory(), recorder) as signaling:

            async def ring_when_offered() -> None:
                (call,) = await recorder.wait_for("offered")
                await signaling.ring(call.call_id)

            ringer = asyncio.create_task(ring_when_offered())
            run = await sipp("uac_cancels.xml", signaling.port, workdir=tmp_path)
            await ringer
            await recorder.wait_for("ended")
            return run, recorder, signaling.active_calls()

    run, recorder, active = asyncio.run(scenario())
    assert run.returncode == 0, run.errors
    ((_, cause, _),) = recorder.of("ended")
    assert cause == "cancelled" and active == 0


def test_rejects_and_unusable_sdp(tmp_path) -> None:
    def call(port: int, body: str) -> int:
        phone = RawPhone(port, "+8613800000000")
        try:
            return phone.request("INVITE", ruri_user="4008", body=body).status
        finally:
            phone.close()

    async def scenario():
        recorder = Recorder(policy=(486, "Busy Here"))
        async with running(directory(), recorder) as signaling:
            busy = await asyncio.to_thread(call, signaling.port, SDP_OFFER)
            g722_only = SDP_OFFER.replace("RTP/AVP 0 101", "RTP/AVP 9")
            unusable = await asyncio.to_thread(call, signaling.port, g722_only)
            no_sdp = await asyncio.to_thread(call, signaling.port, "")
            return busy, unusable, no_sdp, recorder

    busy, unusable, no_sdp, recorder = asyncio.run(scenario())
    assert busy == 486
    assert unusable == 488
    # No SDP is a late offer (the handler decides, here busy), not a refusal.
    assert no_sdp == 486
    assert [c.late_offer for c in recorder.offered] == [False, True]


def test_a_failing_handler_gets_the_caller_a_500_not_endless_ringing() -> None:
    class Broken(Recorder):
        async def call_offered(self, call) -> None:  # type: ignore[no-untyped-def]
            raise RuntimeError("orchestrator bug")

    def call(port: int) -> int:
        phone = RawPhone(port, "+8613800000000")
        try:
            return phone.request("INVITE", ruri_user="4008", body=SDP_OFFER).status
        finally:
            phone.close()

    async def scenario():
        async with running(directory(), Broken()) as signaling:
            status = await asyncio.to_thread(call, signaling.port)
            return status, signaling.active_calls()

    assert asyncio.run(scenario()) == (500, 0)
