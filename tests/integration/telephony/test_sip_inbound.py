"""Inbound calls from a trunk, with SIPp as the carrier: INVITE answered with SDP, BYE
both ways, CANCEL, rejects, and the two sippy findings (reply order, Contact
``transport=UDP``)."""

from __future__ import annotations

import asyncio
import socket
import uuid

from jietong.telephony.sip import stack
from jietong.telephony.sip.model import MemoryDirectory, Trunk

from .sip_harness import Recorder, running, sipp

ORG = "org-1"


def trunk_directory() -> MemoryDirectory:
    carrier = Trunk("trunk-1", ORG, "carrier", "127.0.0.1", allowed_sources=("127.0.0.0/8",))
    return MemoryDirectory(trunks=[carrier])


def test_trunk_call_is_offered_answered_with_sdp_and_ended_by_the_caller(tmp_path) -> None:
    async def scenario():
        recorder = Recorder()
        async with running(trunk_directory(), recorder) as signaling:
            run = await sipp("uac_hangs_up.xml", signaling.port, service="4008", workdir=tmp_path)
            await recorder.wait_for("ended")
            return run, recorder, signaling.active_calls()

    run, recorder, active = asyncio.run(scenario())
    # SIPp checks: 100 before 200, and the answer chose PCMA (the offer's first) with
    # telephone-event 101.
    assert run.returncode == 0, run.errors
    (call,) = recorder.offered
    assert call.org_id == ORG and call.trunk_id == "trunk-1" and call.phone_user is None
    assert call.dialled == "4008"
    assert call.caller.user == "+8613800000000"  # raw; the orchestrator normalises
    assert call.caller.display_name == "Caller 1"
    assert call.remote_media.codecs[0] == ("PCMA", 8)
    assert call.remote_media.telephone_event_pt == 101
    assert recorder.of("ended") == [(call.call_id, "remote_bye", None)]
    assert active == 0


def test_our_bye_reaches_a_contact_written_transport_upper_case(tmp_path) -> None:
    """sippy finding 2: the Contact says ``transport=UDP``; without normalising, sippy
    refuses to send the in-dialog BYE and SIPp times out waiting for it."""

    async def scenario():
        recorder = Recorder()
        async with running(trunk_directory(), recorder) as signaling:
            task = asyncio.create_task(
                sipp("uac_waits_bye.xml", signaling.port, workdir=tmp_path, timeout_s=20)
            )
            (call,) = await recorder.wait_for("offered")
            await asyncio.sleep(0.3)  # let the ACK arrive
            await signaling.hangup(call.call_id)
            return await task, recorder

    run, recorder = asyncio.run(scenario())
    assert run.returncode == 0, run.errors
    assert recorder.of("ended") == []  # our own hangup is not reported back


def test_many_calls_in_a_row_all_pass(tmp_path) -> None:
    async def scenario():
        recorder = Recorder()
        async with running(trunk_directory(), recorder) as signaling:
            run = await sipp(
                "uac_hangs_up.xml", signaling.port, calls=40, rate=40, pause_ms=50, workdir=tmp_path
            )
            await recorder.wait_for("ended", 40)
            return run, recorder

    run, recorder = asyncio.run(scenario())
    assert run.returncode == 0, run.errors
    assert len({c.call_id for c in recorder.offered}) == 40


def invite(port: int, local_port: int, *, call_id: str, body: str | None = None) -> bytes:
    sdp = body or (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 0\r\n"
    )
    return (
        f"INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:200@127.0.0.1:{local_port}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:100@127.0.0.1:{port}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:200@127.0.0.1:{local_port}>\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def statuses_per_call(data: list[bytes]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for datagram in data:
        text = datagram.decode(errors="replace")
        status = int(text.split(" ", 2)[1])
        call_id = next(
            line.split(":", 1)[1].strip()
            for line in text.split("\r\n")
            if line.lower().startswith("call-id:")
        )
        out.setdefault(call_id, []).append(status)
    return out


def test_reply_order_100_never_after_200() -> None:
    """sippy finding 1: with several sender threads a 200 OK could leave before the
    100 Trying of the same INVITE. The handler answers at once, so both are queued
    back to back, for 200 INVITEs sent in bursts; on the wire every 100 comes first."""
    assert stack.OneWorkerOpts.nworkers == 1

    async def scenario():
        recorder = Recorder()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        local_port = sock.getsockname()[1]
        received: list[bytes] = []
        async with running(trunk_directory(), recorder) as signaling:
            assert len(signaling.reactor.tm.l4r.cache_l2s) == 1
            (server,) = signaling.reactor.tm.l4r.cache_l2s.values()
            assert len(server.asenders) == 1

            def drain() -> None:
                while True:
                    try:
                        received.append(sock.recv(65535))
                    except TimeoutError:
                        return

            reader = asyncio.create_task(asyncio.to_thread(drain))
            target = ("127.0.0.1", signaling.port)
            # Bursts of 20 (a larger burst overflows the listener's socket buffer on a
            # loaded machine and UDP drops INVITEs; no retransmissions here).
            for burst in range(10):
                for n in range(burst * 20, burst * 20 + 20):
                    sock.sendto(invite(signaling.port, local_port, call_id=f"order-{n}"), target)
                await recorder.wait_for("offered", burst * 20 + 20, timeout=30)
            await reader
        sock.close()
        return statuses_per_call(received)

    per_call = asyncio.run(scenario())
    assert len(per_call) == 200
    for call_id, statuses in per_call.items():
        assert statuses[0] == 100 and 200 in statuses, (call_id, statuses)
        finals = [i for i, s in enumerate(statuses) if s >= 200]
        provisional = [i for i, s in enumerate(statuses) if s < 200]
        assert max(provisional) < min(finals), (call_id, statuses)
