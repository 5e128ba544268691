"""The registrar and digest security over the real database (SQLite and PostgreSQL):
SIPp and a hand-written UDP phone register, several contacts per user, unREGISTER,
expiry; unknown user and wrong password answered identically; failure limits per source
(loopback included); stale nonces; INVITEs from anything but a trunk need a digest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.storage.tables_sip import SipBindingRow
from jietong.telephony.sip import service as sip_service
from jietong.telephony.sip.schemas import PhoneCreate, TrunkCreate
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import Tenant, make_user

from .sip_harness import SDP_OFFER, RawPhone, Recorder, digest_header, running, sipp

REALM = "jietong"


def phone_account(platform: Platform, tenant: Tenant, username: str) -> str:
    """Create an agent and its phone account; return the password."""
    agent = make_user(platform, tenant.org_id, f"agent-{username}", Role.AGENT, [tenant.team_id])
    with platform.uow() as uow:
        _, password = sip_service.create_phone(
            uow, tenant.admin, PhoneCreate(user_id=agent.user_id, username=username), realm=REALM
        )
    return password


def bindings(platform: Platform) -> list[SipBindingRow]:
    with platform.read_uow() as uow:
        return list(uow.session.scalars(select(SipBindingRow).order_by(SipBindingRow.contact)))


def test_sipp_registers_with_digest_and_the_binding_is_stored(
    platform: Platform, tenant_a: Tenant, tmp_path
) -> None:
    password = phone_account(platform, tenant_a, "1001")

    async def scenario():
        async with running(SqlSipDirectory(platform.sessions), Recorder()) as signaling:
            ok = await sipp(
                "register.xml",
                signaling.port,
                service="1001",
                workdir=tmp_path,
                extra=("-au", "1001", "-ap", password),
            )
            wrong = await sipp(
                "register_refused.xml",
                signaling.port,
                service="1001",
                workdir=tmp_path,
                extra=("-au", "1001", "-ap", password + "x"),
            )
            return ok, wrong

    ok, wrong = asyncio.run(scenario())
    assert ok.returncode == 0, ok.errors
    assert wrong.returncode == 0, wrong.errors
    (binding,) = bindings(platform)
    assert binding.org_id == tenant_a.org_id
    assert binding.contact.startswith("sip:1001@127.0.0.1:") and "transport=udp" in binding.contact
    assert binding.source_host == "127.0.0.1"
    assert binding.user_agent == "SIPp registrar test"
    left = binding.expires_at - datetime.now(UTC)
    assert timedelta(seconds=100) < left <= timedelta(seconds=120)


def test_several_contacts_refresh_unregister_and_star(platform: Platform, tenant_a: Tenant) -> None:
    password = phone_account(platform, tenant_a, "1002")

    def register(phone: RawPhone, *, expires: int, contact: str | None = None, star: bool = False):
        first = phone.request("REGISTER", expires=expires, contact=contact)
        assert first.status == 401
        challenge = first.header("WWW-Authenticate")
        assert challenge is not None
        auth = digest_header(
            "1002", password, challenge, method="REGISTER", uri=f"sip:127.0.0.1:{phone.server[1]}"
        )
        return phone.request(
            "REGISTER", expires=expires, authorization=auth, contact="*" if star else contact
        )

    async def scenario():
        async with running(SqlSipDirectory(platform.sessions), Recorder()) as signaling:
            desk, soft = RawPhone(signaling.port, "1002"), RawPhone(signaling.port, "1002")
            try:
                r1 = await asyncio.to_thread(register, desk, expires=300)
                r2 = await asyncio.to_thread(register, soft, expires=600)
                both = bindings(platform)
                too_brief = await asyncio.to_thread(register, desk, expires=10)
                gone = await asyncio.to_thread(register, desk, expires=0)
                one_left = bindings(platform)
                await asyncio.to_thread(register, desk, expires=300)
                star = await asyncio.to_thread(register, soft, expires=0, star=True)
                return r1, r2, both, too_brief, gone, one_left, star, bindings(platform)
            finally:
                desk.close()
                soft.close()

    r1, r2, both, too_brief, gone, one_left, star, none = asyncio.run(scenario())
    assert r1.status == 200 and len(r1.all("Contact")) == 1
    assert r2.status == 200 and len(r2.all("Contact")) == 2  # the 200 lists every binding
    assert len(both) == 2 and {b.source_port for b in both} == {
        int(c.contact.rsplit(":", 1)[1]) for c in both
    }
    assert too_brief.status == 423 and too_brief.header("Min-Expires") == "60"
    assert gone.status == 200 and len(one_left) == 1
    assert star.status == 200 and none == []


def test_unknown_user_and_wrong_password_get_identical_answers(
    platform: Platform, tenant_a: Tenant
) -> None:
    password = phone_account(platform, tenant_a, "1003")

    def attempt(port: int, user: str, secret: str) -> tuple[list[str], str]:
        phone = RawPhone(port, user)
        try:
            challenge = phone.request("REGISTER").header("WWW-Authenticate") or ""
            auth = digest_header(
                user, secret, challenge, method="REGISTER", uri=f"sip:127.0.0.1:{port}"
            )
            reply = phone.request("REGISTER", authorization=auth)
        finally:
            phone.close()
        # Everything but the per-request values (Via branch, tags, Call-ID, CSeq).
        varying = {"via", "from", "to", "call-id", "cseq"}
        shape = [f"{k.lower()}: {v}" for k, v in reply.headers if k.lower() not in varying]
        return shape, reply.text.split("\r\n", 1)[0]

    async def scenario():
        async with running(SqlSipDirectory(platform.sessions), Recorder()) as signaling:
            unknown = await asyncio.to_thread(attempt, signaling.port, "9999", password)
            wrong = await asyncio.to_thread(attempt, signaling.port, "1003", password + "!")
            right = await asyncio.to_thread(attempt, signaling.port, "1003", password)
            return unknown, wrong, right

    unknown, wrong, right = asyncio.run(scenario())
    assert unknown == wrong
    assert unknown[1] == "SIP/2.0 403 Forbidden"
    assert right[1] == "SIP/2.0 200 OK"


def test_failures_from_one_address_block_it_loopback_included(
    platform: Platform, tenant_a: Tenant
) -> None:
    password = phone_account(platform, tenant_a, "1004")

    def attempt(port: int, secret: str) -> int:
        phone = RawPhone(port, "1004")
        try:
            first = phone.request("REGISTER")
            if first.status != 401:
                return first.status
            auth = digest_header(
                "1004",
                secret,
                first.header("WWW-Authenticate") or "",
                method="REGISTER",
                uri=f"sip:127.0.0.1:{port}",
            )
            return phone.request("REGISTER", authorization=auth).status
        finally:
            phone.close()

    async def scenario():
        async with running(
            SqlSipDirectory(platform.sessions), Recorder(), max_auth_failures=3
        ) as signaling:
            fails = [await asyncio.to_thread(attempt, signaling.port, "bad") for _ in range(3)]
            after = await asyncio.to_thread(attempt, signaling.port, password)
            return fails, after

    fails, after = asyncio.run(scenario())
    assert fails == [403, 403, 403]
    assert after == 403  # the right password no longer helps from this address


def test_an_expired_nonce_with_the_right_password_is_challenged_stale(
    platform: Platform, tenant_a: Tenant
) -> None:
    password = phone_account(platform, tenant_a, "1005")
    now = [1_800_000_000.0]

    def flow(port: int) -> tuple[int, str | None, int]:
        phone = RawPhone(port, "1005")
        try:
            challenge = phone.request("REGISTER").header("WWW-Authenticate") or ""
            auth = digest_header(
                "1005", password, challenge, method="REGISTER", uri=f"sip:127.0.0.1:{port}"
            )
            now[0] += 301  # past the nonce lifetime
            stale = phone.request("REGISTER", authorization=auth)
            fresh = digest_header(
                "1005",
                password,
                stale.header("WWW-Authenticate") or "",
                method="REGISTER",
                uri=f"sip:127.0.0.1:{port}",
            )
            return (
                stale.status,
                stale.header("WWW-Authenticate"),
                phone.request("REGISTER", authorization=fresh).status,
            )
        finally:
            phone.close()

    async def scenario():
        async with running(
            SqlSipDirectory(platform.sessions), Recorder(), clock=lambda: now[0]
        ) as signaling:
            return await asyncio.to_thread(flow, signaling.port)

    status, challenge, then = asyncio.run(scenario())
    assert status == 401 and challenge is not None and "stale=true" in challenge
    assert then == 200


def test_invite_without_credentials_from_a_non_trunk_is_refused_and_with_them_offered(
    platform: Platform, tenant_a: Tenant
) -> None:
    """No toll fraud: an INVITE toward an external number from an address that is not a
    trunk gets a challenge, a wrong digest gets 403, and nothing reaches the handler
    until the phone's digest is right."""
    password = phone_account(platform, tenant_a, "1006")
    with platform.uow() as uow:  # a trunk elsewhere: 127.0.0.1 is not one of its sources
        sip_service.create_trunk(
            uow,
            tenant_a.admin,
            TrunkCreate(name="carrier", host="192.0.2.10", allowed_sources=["192.0.2.0/24"]),
        )

    def flow(port: int) -> tuple[int, int, int]:
        phone = RawPhone(port, "1006")
        uri = f"sip:+14155550100@127.0.0.1:{port}"
        try:
            first = phone.request("INVITE", ruri_user="+14155550100", body=SDP_OFFER)
            challenge = first.header("WWW-Authenticate") or ""
            bad = digest_header("1006", "guess", challenge, method="INVITE", uri=uri)
            second = phone.request(
                "INVITE", ruri_user="+14155550100", body=SDP_OFFER, authorization=bad
            )
            good = digest_header("1006", password, challenge, method="INVITE", uri=uri)
            third = phone.request(
                "INVITE", ruri_user="+14155550100", body=SDP_OFFER, authorization=good
            )
            return first.status, second.status, third.status
        finally:
            phone.close()

    async def scenario():
        recorder = Recorder(policy=(486, "Busy Here"))
        async with running(SqlSipDirectory(platform.sessions), recorder) as signaling:
            statuses = await asyncio.to_thread(flow, signaling.port)
            return statuses, recorder

    (first, second, third), recorder = asyncio.run(scenario())
    assert (first, second) == (401, 403)
    assert third == 486  # reached the handler, which refused it
    (call,) = recorder.offered
    assert call.phone_user == "1006" and call.trunk_id is None
    assert call.org_id == tenant_a.org_id and call.dialled == "+14155550100"


def test_options_is_answered_even_without_credentials(platform: Platform) -> None:
    def ping(port: int) -> tuple[int, str | None]:
        phone = RawPhone(port, "monitor")
        try:
            reply = phone.request("OPTIONS")
            return reply.status, reply.header("Allow")
        finally:
            phone.close()

    async def scenario():
        async with running(SqlSipDirectory(platform.sessions), Recorder()) as signaling:
            return await asyncio.to_thread(ping, signaling.port)

    status, allow = asyncio.run(scenario())
    assert status == 200 and allow is not None and "INVITE" in allow and "REGISTER" in allow


def test_expired_bindings_are_not_used_and_are_purged(platform: Platform, tenant_a: Tenant) -> None:
    from jietong.telephony.sip.model import Binding

    phone_account(platform, tenant_a, "1007")
    directory = SqlSipDirectory(platform.sessions)
    now = datetime.now(UTC)

    async def scenario():
        for contact, left in (("sip:1007@10.0.0.1", -5), ("sip:1007@10.0.0.2", 60)):
            await directory.save_binding(
                Binding(
                    tenant_a.org_id,
                    "1007",
                    contact,
                    "10.0.0.1",
                    5060,
                    now + timedelta(seconds=left),
                    "c",
                    1,
                )
            )
        live = await directory.bindings("1007", now)
        purged = await directory.purge_bindings(now)
        return live, purged

    live, purged = asyncio.run(scenario())
    assert [b.contact for b in live] == ["sip:1007@10.0.0.2"]
    assert purged == 1 and [b.contact for b in bindings(platform)] == ["sip:1007@10.0.0.2"]
