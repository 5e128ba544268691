"""baresip as a real agent phone: it registers with its digest over the database-backed
registrar, we call it (it auto-answers), then hang up."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.storage.tables_sip import SipBindingRow
from jietong.telephony.ports import Target
from jietong.telephony.sip import service as sip_service
from jietong.telephony.sip.schemas import PhoneCreate
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import Tenant, make_user

from .sip_harness import LOCAL_MEDIA, Baresip, Recorder, running


async def registered(platform: Platform) -> SipBindingRow:
    """The binding, once the phone's REGISTER went through (it registers at start,
    maybe before our control connection)."""
    for _ in range(100):
        with platform.read_uow() as uow:
            rows = uow.session.scalars(select(SipBindingRow)).all()
        if rows:
            (row,) = rows
            return row
        await asyncio.sleep(0.1)
    raise AssertionError("baresip did not register")


def test_baresip_registers_and_answers_our_call(
    platform: Platform, tenant_a: Tenant, tmp_path
) -> None:
    agent = make_user(platform, tenant_a.org_id, "zhao.min", Role.AGENT, [tenant_a.team_id])
    with platform.uow() as uow:
        _, password = sip_service.create_phone(
            uow,
            tenant_a.admin,
            PhoneCreate(user_id=agent.user_id, username="3001"),
            realm="jietong",
        )

    async def scenario():
        recorder = Recorder()
        async with running(SqlSipDirectory(platform.sessions), recorder) as signaling:
            with Baresip(
                tmp_path, user="3001", password=password, registrar_port=signaling.port
            ) as phone:
                await phone.connect()
                binding = await registered(platform)
                call_id = await signaling.originate(
                    tenant_a.org_id, Target("phone", "3001"), "4008", LOCAL_MEDIA, timeout_s=10
                )
                (answered,) = await recorder.wait_for("answered")
                await asyncio.sleep(0.5)
                await signaling.hangup(call_id)
                events = await phone.events_until("CALL_CLOSED")
                return binding, call_id, answered, events

    binding, call_id, (answered_id, remote), events = asyncio.run(scenario())
    assert binding.contact.startswith("sip:3001-") and "@127.0.0.1:" in binding.contact
    assert binding.user_agent and "baresip" in binding.user_agent
    assert answered_id == call_id
    assert remote.port > 0 and remote.codecs[0] == ("PCMU", 0)  # our first choice
    types = [e.get("type") for e in events]
    assert "CALL_ESTABLISHED" in types
    assert types.index("CALL_ESTABLISHED") < types.index("CALL_CLOSED")
