"""Outbound calls: through a trunk that challenges (SIPp as the carrier), and to a
registered phone whose contacts all ring (SIPp as two phones): first 200 wins, the
others are CANCELled."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from jietong.telephony.ports import Target
from jietong.telephony.sip.model import Binding, MemoryDirectory, PhoneAccount, Trunk

from .sip_harness import LOCAL_MEDIA, Recorder, finish_sipp, free_udp_port, running, sipp_uas

ORG = "org-1"


def test_outbound_call_through_a_trunk_answers_its_digest_challenge(tmp_path) -> None:
    carrier_port = free_udp_port()
    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        carrier_port,
        allowed_sources=("192.0.2.1/32",),
        username="acct",
        password="trunk-secret",
        is_default=True,
    )

    async def scenario():
        recorder = Recorder()
        async with running(MemoryDirectory(trunks=[trunk]), recorder) as signaling:
            carrier = await sipp_uas("uas_trunk.xml", carrier_port, workdir=tmp_path)
            call_id = await signaling.originate(
                ORG,
                Target("number", "+8613912345678"),
                "+862100000000",
                LOCAL_MEDIA,
                timeout_s=20,
            )
            (answered,) = await recorder.wait_for("answered", timeout=15)
            await asyncio.sleep(0.2)
            await signaling.hangup(call_id)
            run = await finish_sipp(carrier)
            return call_id, answered, run, recorder

    call_id, (answered_id, remote), run, recorder = asyncio.run(scenario())
    assert run.returncode == 0, run.errors  # our BYE reached its transport=UDP Contact
    assert answered_id == call_id
    assert remote.codecs == (("PCMU", 0),) and remote.telephone_event_pt == 101
    assert recorder.of("progress") == [(call_id, 180)]
    assert recorder.of("ended") == []


def test_outbound_call_with_a_wrong_trunk_password_is_rejected(tmp_path) -> None:
    carrier_port = free_udp_port()
    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        carrier_port,
        username="acct",
        password="wrong",
        is_default=True,
    )

    async def scenario():
        recorder = Recorder()
        async with running(MemoryDirectory(trunks=[trunk]), recorder) as signaling:
            carrier = await sipp_uas("uas_trunk.xml", carrier_port, workdir=tmp_path)
            call_id = await signaling.originate(
                ORG,
                Target("number", "+8613912345678"),
                "+862100000000",
                LOCAL_MEDIA,
                timeout_s=20,
            )
            (ended,) = await recorder.wait_for("ended", timeout=15)
            await finish_sipp(carrier)
            return call_id, ended

    call_id, ended = asyncio.run(scenario())
    assert ended == (call_id, "rejected", 403)


def test_all_contacts_of_a_phone_ring_the_first_answer_wins_the_other_is_cancelled(
    tmp_path,
) -> None:
    quick, slow = free_udp_port(), free_udp_port()
    phone = PhoneAccount("p1", ORG, "1001", "jietong", "0" * 32, user_id="u1")
    directory = MemoryDirectory(phones=[phone])
    expires = datetime.now(UTC) + timedelta(minutes=5)

    async def scenario():
        for port in (quick, slow):
            await directory.save_binding(
                Binding(
                    ORG,
                    "1001",
                    f"sip:1001@127.0.0.1:{port}",
                    "127.0.0.1",
                    port,
                    expires,
                    f"reg-{port}",
                    1,
                )
            )
        recorder = Recorder()
        async with running(directory, recorder) as signaling:
            answers = await sipp_uas("uas_answers.xml", quick, workdir=tmp_path)
            rings = await sipp_uas("uas_rings_until_cancel.xml", slow, workdir=tmp_path)
            call_id = await signaling.originate(
                ORG, Target("phone", "1001"), "4008", LOCAL_MEDIA, timeout_s=20
            )
            await recorder.wait_for("answered", timeout=15)
            await asyncio.sleep(0.5)
            await signaling.hangup(call_id)
            return call_id, await finish_sipp(answers), await finish_sipp(rings), recorder

    call_id, answered_run, cancelled_run, recorder = asyncio.run(scenario())
    assert answered_run.returncode == 0, answered_run.errors
    assert cancelled_run.returncode == 0, cancelled_run.errors  # got CANCEL, sent 487
    assert [a[0] for a in recorder.of("answered")] == [call_id]
    assert recorder.of("ended") == []


def test_a_phone_with_no_registration_cannot_be_called() -> None:
    phone = PhoneAccount("p1", ORG, "1001", "jietong", "0" * 32)

    async def scenario():
        async with running(MemoryDirectory(phones=[phone]), Recorder()) as signaling:
            try:
                await signaling.originate(
                    ORG, Target("phone", "1001"), "x", LOCAL_MEDIA, timeout_s=5
                )
            except LookupError as exc:
                return type(exc).__name__
            return None

    assert asyncio.run(scenario()) == "NotRegistered"


def test_an_unanswered_outbound_call_ends_no_answer(tmp_path) -> None:
    port = free_udp_port()
    phone = PhoneAccount("p1", ORG, "1001", "jietong", "0" * 32)
    directory = MemoryDirectory(phones=[phone])

    async def scenario():
        await directory.save_binding(
            Binding(
                ORG,
                "1001",
                f"sip:1001@127.0.0.1:{port}",
                "127.0.0.1",
                port,
                datetime.now(UTC) + timedelta(minutes=5),
                "reg",
                1,
            )
        )
        recorder = Recorder()
        async with running(directory, recorder) as signaling:
            rings = await sipp_uas("uas_rings_until_cancel.xml", port, workdir=tmp_path)
            call_id = await signaling.originate(
                ORG, Target("phone", "1001"), "4008", LOCAL_MEDIA, timeout_s=2
            )
            (ended,) = await recorder.wait_for("ended", timeout=15)
            return call_id, ended, await finish_sipp(rings)

    call_id, ended, run = asyncio.run(scenario())
    assert ended[0] == call_id and ended[1] == "no_answer"
    assert run.returncode == 0, run.errors  # it was CANCELled


def test_a_proxy_challenge_407_is_answered_with_proxy_authorization() -> None:
    """A carrier that challenges with 407 (as proxies do): a hand-written UDP carrier
    checks the Proxy-Authorization of the second INVITE with our own verifier, then
    refuses the call (the rest of the call is the 401 test's)."""
    import socket
    import threading

    from jietong.telephony.sip import digest

    carrier = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    carrier.bind(("127.0.0.1", 0))
    carrier.settimeout(10)
    port = carrier.getsockname()[1]
    verdicts: list[digest.Verdict] = []
    nonces = digest.NonceBook(b"c" * 32)

    def respond(request: str, address: tuple[str, int], status: str, extra: str = "") -> None:
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        keep = [
            h
            for h in head
            if h.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        keep = [h + ";tag=carrier" if h.lower().startswith("to:") else h for h in keep]
        text = f"SIP/2.0 {status}\r\n" + "\r\n".join(keep) + f"\r\n{extra}Content-Length: 0\r\n\r\n"
        carrier.sendto(text.encode(), address)

    def serve() -> None:
        invites = 0
        while invites < 2:
            data, address = carrier.recvfrom(65535)
            text = data.decode()
            if not text.startswith("INVITE"):
                continue
            invites += 1
            if invites == 1:
                challenge = digest.challenge("carrier.example", nonces.issue(time.time()))
                respond(
                    text,
                    address,
                    "407 Proxy Authentication Required",
                    f"Proxy-Authenticate: {challenge}\r\n",
                )
                continue
            header = next(
                line.split(":", 1)[1].strip()
                for line in text.split("\r\n")
                if line.lower().startswith("proxy-authorization:")
            )
            creds = digest.parse_authorization(header)
            assert creds is not None
            verdicts.append(
                digest.verify(
                    creds,
                    method="INVITE",
                    realm="carrier.example",
                    stored_ha1=digest.ha1("acct", "carrier.example", "trunk-secret"),
                    nonces=nonces,
                    now=time.time(),
                )
            )
            respond(text, address, "403 Forbidden")

    trunk = Trunk(
        "trunk-1",
        ORG,
        "carrier",
        "127.0.0.1",
        port,
        username="acct",
        password="trunk-secret",
        is_default=True,
    )

    async def scenario():
        recorder = Recorder()
        server = threading.Thread(target=serve, daemon=True)
        server.start()
        async with running(MemoryDirectory(trunks=[trunk]), recorder) as signaling:
            await signaling.originate(
                ORG, Target("number", "+8613912345678"), "+862100000000", LOCAL_MEDIA, timeout_s=10
            )
            await recorder.wait_for("ended")
        server.join(5)
        carrier.close()
        return recorder

    recorder = asyncio.run(scenario())
    assert verdicts == [digest.Verdict.OK]
    ((_, cause, status),) = recorder.of("ended")
    assert (cause, status) == ("rejected", 403)
