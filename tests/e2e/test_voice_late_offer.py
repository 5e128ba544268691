"""A late-offer call against `jietong demo` (a real server process): SIPp sends an INVITE
without SDP, takes our offer from the 200 OK and answers in the ACK with the address of
the test's own RTP phone. RTP then flows both ways: the phone hears the IVR's prompts
(PCMU, measured), and its RFC 4733 keys, sent from the address the ACK named, walk the
demo IVR to the billing queue (the CDR says so)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from jietong.telephony.media import g711, rtp
from tests.e2e.test_voice_call import SIPP_DIR, Demo, _cdr, _free_port, _wait, demo
from tests.integration.telephony.peers import RtpPeer

__all__ = ["demo"]  # the fixture, used by name
pytestmark = pytest.mark.slow
OUR_OFFER = re.compile(r"SIP/2.0 200 OK.*?c=IN IP4 (\S+).*?m=audio (\d+) RTP/AVP 0 101", re.S)


def test_late_offer_call_has_rtp_both_ways_and_walks_the_ivr(demo: Demo, tmp_path: Path) -> None:
    phone = RtpPeer(440.0, 4242)
    messages = tmp_path / "late_offer_messages.log"
    caller = subprocess.Popen(
        [
            "sipp", f"127.0.0.1:{demo.sip_port}", "-sf", str(SIPP_DIR / "late_offer.xml"),
            "-s", "4008001234", "-i", "127.0.0.1", "-p", str(_free_port()), "-m", "1",
            "-d", "10000", "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port",
            str(phone.address[1]), "-trace_msg", "-message_file", str(messages),
            "-nostdin", "-timeout", "40s", "-trace_err", "-error_file",
            str(tmp_path / "caller.err"),
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        offer = _wait(
            lambda: (
                OUR_OFFER.search(messages.read_text(errors="replace"))
                if messages.exists()
                else None
            ),
            30,
            "our offer in the 200 OK",
        )
        phone.target = (offer.group(1), int(offer.group(2)))
        start = time.monotonic()
        pressed: set[str] = set()
        tick = 0
        while time.monotonic() - start < 8.5:
            elapsed = time.monotonic() - start
            # 1: Mandarin, then 1: billing (as tests/e2e/test_voice_call.py times them).
            for at, key in ((2.5, "a"), (5.5, "b")):
                if elapsed >= at and key not in pressed:
                    pressed.add(key)
                    phone.press("1")
            phone.send_one()
            phone.drain()
            tick += 1
            time.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))
        assert caller.wait(30) == 0, (tmp_path / "caller.err").read_text(errors="replace")
    finally:
        if caller.poll() is None:
            caller.kill()
        phone.close()

    packets = [rtp.parse(p) for p in phone.received]
    # Our side sent to the address the ACK named: the prompts, in the codec we offered.
    assert len(packets) > 150, len(packets)
    assert {p.header.payload_type for p in packets} <= {0, 101}
    voice = b"".join(p.payload for p in packets if p.header.payload_type == 0)
    samples = g711.decode_bytes(voice, g711.PCMU).astype(np.float64)
    assert float(np.sqrt(np.mean(np.square(samples)))) > 200  # audio, not silence
    # And took the phone's keys from it: the IVR reached the billing queue.
    cdr = _wait(lambda: _cdr(demo) if _cdr(demo).get("ended_at") else None, 15, "the CDR")
    assert cdr["ivr_outcome"] == "queue"
    with demo.db() as db:
        (queue,) = db.execute("SELECT name FROM queues WHERE id = ?", (cdr["queue_id"],)).fetchone()
    assert queue == "Billing"
    assert cdr["end_cause"] == "customer_hangup"
