"""Late offer (RFC 3261 13.2.1) with SIPp: an INVITE without SDP is offered to the
handler as a late offer; our 200 OK carries the offer (one codec, telephone-event), the
ACK's SDP is the answer and reaches the handler as `call_answered`; an ACK without an
answer gets BYE."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jietong.telephony.ports import MediaEndpoint
from jietong.telephony.sip.model import MemoryDirectory, Trunk

from .sip_harness import Recorder, running, sipp

E2E_SIPP = Path(__file__).resolve().parents[2] / "e2e" / "sipp"
ORG = "org-1"


def _directory() -> MemoryDirectory:
    carrier = Trunk("trunk-1", ORG, "carrier", "127.0.0.1", allowed_sources=("127.0.0.0/8",))
    return MemoryDirectory(trunks=[carrier])


def test_the_offer_goes_in_our_200_and_the_answer_comes_in_the_ack(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, Recorder]:
        recorder = Recorder()
        async with running(_directory(), recorder) as signaling:
            run = await sipp(
                str(E2E_SIPP / "late_offer.xml"),
                signaling.port,
                service="4008",
                extra=("-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", "41234"),
                pause_ms=300,
                workdir=tmp_path,
            )
            await recorder.wait_for("ended")
            return run.returncode, run.errors, recorder

    code, errors, recorder = asyncio.run(scenario())
    # SIPp checked that our 200 offers PCMU (0) and telephone-event (101) only.
    assert code == 0, errors
    (call,) = recorder.offered
    assert call.late_offer and call.remote_media.port == 0  # no address before the ACK
    assert call.remote_media.codecs == (("PCMU", 0),)
    ((call_id, remote),) = recorder.of("answered")
    assert call_id == call.call_id
    assert remote == MediaEndpoint("127.0.0.1", 41234, (("PCMU", 0),), 101)
    assert recorder.of("ended") == [(call.call_id, "remote_bye", None)]


def test_an_ack_without_an_answer_is_hung_up(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, Recorder]:
        recorder = Recorder()
        async with running(_directory(), recorder) as signaling:
            run = await sipp(
                str(E2E_SIPP / "late_offer_no_answer.xml"), signaling.port, workdir=tmp_path
            )
            await recorder.wait_for("ended")
            return run.returncode, run.errors, recorder

    code, errors, recorder = asyncio.run(scenario())
    assert code == 0, errors  # SIPp received our BYE
    (call,) = recorder.offered
    assert recorder.of("answered") == []
    assert recorder.of("ended") == [(call.call_id, "failed", 488)]
