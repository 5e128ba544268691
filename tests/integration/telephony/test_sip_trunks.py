"""Trunks we register to: digest registration with the carrier (SIPp as its registrar),
refreshed before the granted time runs out; calls from that carrier's address are then
accepted as trunk calls without digest."""

from __future__ import annotations

import asyncio

from jietong.telephony.sip.model import MemoryDirectory, Trunk
from jietong.telephony.sip.registration import refresh_after

from .sip_harness import (
    SDP_OFFER,
    RawPhone,
    Recorder,
    finish_sipp,
    free_udp_port,
    running,
    sipp_uas,
)

ORG = "org-1"


def test_refresh_comes_before_expiry() -> None:
    assert refresh_after(5) == 2.5
    assert refresh_after(3600) == 3570
    assert all(refresh_after(g) < g for g in (2, 5, 60, 61, 600, 86400))


def test_we_register_to_a_carrier_with_digest_and_refresh_before_expiry(tmp_path) -> None:
    port = free_udp_port()
    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        port,
        username="acct",
        password="trunk-secret",
        register=True,
        register_expires_s=300,
    )

    async def scenario():
        async with running(MemoryDirectory(trunks=[trunk]), Recorder()) as signaling:
            carrier = await sipp_uas("uas_registrar.xml", port, workdir=tmp_path)
            run = await finish_sipp(carrier)
            await asyncio.sleep(0.3)
            return run, signaling.registrations.get("trunk-1")

    run, state = asyncio.run(scenario())
    assert run.returncode == 0, run.errors  # digest verified, refresh arrived in time
    assert state is not None and state.registered
    assert state.refreshes == 1 and state.detail == "expires=3600"


def test_a_wrong_trunk_password_is_reported_as_a_failed_registration(tmp_path) -> None:
    port = free_udp_port()
    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        port,
        username="acct",
        password="nope",
        register=True,
    )

    async def scenario():
        async with running(MemoryDirectory(trunks=[trunk]), Recorder()) as signaling:
            carrier = await sipp_uas("uas_registrar.xml", port, workdir=tmp_path)
            await finish_sipp(carrier)
            await asyncio.sleep(0.3)
            return signaling.registrations.get("trunk-1")

    state = asyncio.run(scenario())
    assert state is not None and not state.registered and "403" in state.detail


def test_calls_from_the_host_we_register_to_are_trunk_calls() -> None:
    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        free_udp_port(),
        username="acct",
        password="x",
        register=True,
    )

    def call(port: int) -> int:
        phone = RawPhone(port, "+8613800000000")
        try:
            return phone.request("INVITE", ruri_user="4008", body=SDP_OFFER).status
        finally:
            phone.close()

    async def scenario():
        recorder = Recorder(policy=(480, "Temporarily Unavailable"))
        async with running(MemoryDirectory(trunks=[trunk]), recorder) as signaling:
            status = await asyncio.to_thread(call, signaling.port)
            return status, recorder

    status, recorder = asyncio.run(scenario())
    assert status == 480
    (offered,) = recorder.offered
    assert offered.trunk_id == "trunk-1" and offered.phone_user is None
