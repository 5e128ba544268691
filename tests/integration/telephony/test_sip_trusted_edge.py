"""Behind Kamailio: a trunk marked ``trusted_edge`` may name, in ``X-Jietong-Phone``, the
agent phone whose call it relays, and the call is then that phone's (an agent dialling
out). From any other source the header changes nothing: a carrier's call stays a
carrier's call, and a source that is no trunk still has to prove a phone's digest —
no caller can dial out as an agent by writing a header (toll fraud)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from jietong.telephony.sip.model import MemoryDirectory, PhoneAccount, Trunk
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import Tenant

from .sip_harness import SDP_OFFER, Recorder, Reply, parse_reply, running, sipp

ORG, OTHER = "org-1", "org-2"
PHONES = [
    PhoneAccount("p1", ORG, "1001", "jietong", "0" * 32, user_id="agent-1"),
    PhoneAccount("p2", OTHER, "2001", "jietong", "0" * 32, user_id="agent-2"),
    PhoneAccount("p3", ORG, "1003", "jietong", "0" * 32, user_id="agent-3", enabled=False),
]


def _edge(*, trusted: bool, sources: tuple[str, ...] = ("127.0.0.0/8",)) -> Trunk:
    return Trunk(
        "edge-1", ORG, "kamailio", "127.0.0.1", allowed_sources=sources, trusted_edge=trusted
    )


def _invite(port: int, phone_header: str | None) -> Reply:
    """An INVITE from 127.0.0.1 with SDP and, if given, X-Jietong-Phone; the final reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        me = sock.getsockname()[1]
        lines = [
            f"INVITE sip:013900001111@127.0.0.1:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{uuid.uuid4().hex};rport",
            f"From: <sip:1001@127.0.0.1>;tag=t{me}",
            f"To: <sip:013900001111@127.0.0.1:{port}>",
            f"Call-ID: {uuid.uuid4().hex}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:1001@127.0.0.1:{me}>",
            "Max-Forwards: 70",
            *([f"X-Jietong-Phone: {phone_header}"] if phone_header is not None else []),
            "Content-Type: application/sdp",
            f"Content-Length: {len(SDP_OFFER)}",
        ]
        sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + SDP_OFFER).encode(), ("127.0.0.1", port))
        while True:
            reply = parse_reply(sock.recv(65535))
            if reply.status >= 200:
                return reply


def test_a_trusted_edge_names_the_phone_and_the_call_is_the_phones(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, Recorder]:
        recorder = Recorder()
        directory = MemoryDirectory(phones=PHONES, trunks=[_edge(trusted=True)])
        async with running(directory, recorder) as signaling:
            run = await sipp(
                "uac_edge_phone.xml",
                signaling.port,
                service="013900001111",
                extra=("-key", "phone", "1001"),
                workdir=tmp_path,
            )
            await recorder.wait_for("ended")
            return run.returncode, run.errors, recorder

    code, errors, recorder = asyncio.run(scenario())
    assert code == 0, errors
    (call,) = recorder.offered
    # The phone's own call: the orchestrator dials the number for agent 1 (its rights).
    assert call.phone_user == "1001" and call.org_id == ORG and call.trunk_id is None
    assert call.dialled == "013900001111"


def test_the_header_from_an_untrusted_trunk_is_ignored(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, Recorder]:
        recorder = Recorder()
        directory = MemoryDirectory(phones=PHONES, trunks=[_edge(trusted=False)])
        async with running(directory, recorder) as signaling:
            run = await sipp(
                "uac_edge_phone.xml",
                signaling.port,
                service="013900001111",
                extra=("-key", "phone", "1001"),
                workdir=tmp_path,
            )
            await recorder.wait_for("ended")
            return run.returncode, run.errors, recorder

    code, errors, recorder = asyncio.run(scenario())
    assert code == 0, errors
    (call,) = recorder.offered
    # A carrier's inbound call like any other (it goes to the IVR), not agent 1 dialling.
    assert call.phone_user is None and call.trunk_id == "edge-1" and call.org_id == ORG


def test_the_header_does_not_replace_a_phones_digest() -> None:
    """A source that is no trunk at all: the header earns nothing but a challenge."""

    async def scenario() -> tuple[Reply, Recorder]:
        recorder = Recorder()
        edge = _edge(trusted=True, sources=("10.9.9.9/32",))  # loopback is not the edge
        async with running(MemoryDirectory(phones=PHONES, trunks=[edge]), recorder) as signaling:
            reply = await asyncio.to_thread(_invite, signaling.port, "1001")
            return reply, recorder

    reply, recorder = asyncio.run(scenario())
    assert reply.status == 401 and reply.header("WWW-Authenticate")
    assert recorder.offered == []


def test_a_trusted_edge_may_not_name_a_phone_it_does_not_own() -> None:
    async def scenario() -> tuple[list[int], Recorder]:
        recorder = Recorder()
        directory = MemoryDirectory(phones=PHONES, trunks=[_edge(trusted=True)])
        async with running(directory, recorder) as signaling:
            statuses = []
            # Another organisation's phone, an unknown one, a disabled one.
            for name in ("2001", "9999", "1003"):
                statuses.append((await asyncio.to_thread(_invite, signaling.port, name)).status)
            # No header: a carrier's call through the edge.
            statuses.append((await asyncio.to_thread(_invite, signaling.port, None)).status)
            return statuses, recorder

    statuses, recorder = asyncio.run(scenario())
    assert statuses == [403, 403, 403, 200]
    (call,) = recorder.offered
    assert call.phone_user is None and call.trunk_id == "edge-1"


def test_trusted_edge_is_a_trunk_setting_through_the_api(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    body = {"name": "kamailio", "host": "10.0.0.5", "allowed_sources": ["10.0.0.5"]}
    created = client.post("/api/v1/voice/trunks", json=body, headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    assert created.json()["trusted_edge"] is False  # never by default
    trunk_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/voice/trunks/{trunk_id}", json={"trusted_edge": True}, headers=tenant_a.headers
    )
    assert patched.status_code == 200 and patched.json()["trusted_edge"] is True
    bad = client.patch(
        f"/api/v1/voice/trunks/{trunk_id}",
        json={"trusted_edge": "yes please"},
        headers=tenant_a.headers,
    )
    assert bad.status_code == 422
    found = asyncio.run(SqlSipDirectory(platform.sessions).trunk_admitting("10.0.0.5"))
    assert found is not None and found.trusted_edge and found.id == trunk_id
