"""RTCP with a real SIP phone: baresip answers our call, its audio comes to a leg of a
real media process, and the RTCP it sends (RTP port + 1, as our SDP implies) shows up in
the leg's stats, with a round trip once it has answered one of our SRs."""

from __future__ import annotations

import asyncio
import time

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.process import MediaProcess
from jietong.telephony.ports import MediaEndpoint, Target
from jietong.telephony.sip import service as sip_service
from jietong.telephony.sip.schemas import PhoneCreate
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import Tenant, make_user

from .sip_harness import Baresip, Recorder, running
from .test_sip_baresip import registered


def test_baresip_rtcp_reaches_the_legs_stats(
    platform: Platform, tenant_a: Tenant, tmp_path, media_process: MediaProcess
) -> None:
    agent = make_user(platform, tenant_a.org_id, "qian.li", Role.AGENT, [tenant_a.team_id])
    with platform.uow() as uow:
        _, password = sip_service.create_phone(
            uow, tenant_a.admin, PhoneCreate(user_id=agent.user_id, username="3002"),
            realm="jietong",
        )  # fmt: skip

    async def scenario():
        media = await MediaClient.connect(media_process.address, media_process.secret)
        leg = await media.create_leg("bs-a")
        recorder = Recorder()
        async with running(SqlSipDirectory(platform.sessions), recorder) as signaling:
            with Baresip(
                tmp_path, user="3002", password=password, registrar_port=signaling.port
            ) as phone:
                await phone.connect()
                await registered(platform)
                ours = MediaEndpoint("127.0.0.1", leg.local_port)
                call_id = await signaling.originate(
                    tenant_a.org_id, Target("phone", "3002"), "4008", ours, timeout_s=10
                )
                ((_, remote),) = await recorder.wait_for("answered")
                # baresip's SDP names this machine's interface address but it sends from
                # loopback, where we call it: the engine filters on the address it sends
                # from (it does not latch onto whatever arrives).
                await media.set_remote("bs-a", "127.0.0.1", remote.port)
                # Whatever came before the peer was known was dropped (counted); from
                # here on its RTCP must all be taken.
                _, (at_set,) = await media.get_stats("bs-a")
                # baresip reports about every 5 s; ours go out 1.25-3.75 s after the leg
                # and then every 2.5-7.5 s: wait for a report that answers one of ours.
                deadline = time.monotonic() + 20
                while True:
                    _, (stats,) = await media.get_stats("bs-a")
                    if stats.rtt_ms is not None or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
                await signaling.hangup(call_id)
        await media.close()
        return at_set, stats

    at_set, stats = asyncio.run(scenario())
    assert stats.rx_packets > 0 and stats.rtcp_tx >= 1
    assert stats.rtcp_rx >= 1 and stats.rtcp_rx_dropped == at_set.rtcp_rx_dropped
    assert stats.rtt_ms is not None and stats.rtt_ms >= 0
    assert stats.peer_fraction_lost is not None and stats.peer_jitter_ms is not None
