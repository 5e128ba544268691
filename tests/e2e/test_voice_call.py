"""A call end to end with real peers against `jietong demo` (a real server process):

a SIPp caller dials in over the demo trunk, walks the IVR with RFC 2833 keys (1:
Mandarin, 1: billing), waits in the queue; agent1's baresip phone (registered with
digest, auto-answer) is rung and answers; the call is bridged and recorded; the agent
transfers it (blind) to an outside number (a SIPp carrier on the trunk), and the caller
hangs up. The CDR, the interaction and the recording (RMS measured with sox) are
checked. A second test kills the media process mid-call with SIGKILL: the API keeps
answering and the CDR closes with cause ``media_lost``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.rtp_pcap import RtpStream, write_pcap

pytestmark = pytest.mark.slow
SIPP_DIR = Path(__file__).parent / "sipp"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (httpx.HTTPError, sqlite3.Error):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    base: str
    sip_port: int
    data_dir: Path
    log: Path

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "jietong.db")

    def login(self, username: str, password: str) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=10)
        answer = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        answer.raise_for_status()
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    def media_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(line.split()[0]) for line in out.splitlines() if "telephony.media" in line]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    _need("sipp")
    _need("baresip")
    http_port, sip_port = _free_port(socket.SOCK_STREAM), _free_port()
    env = dict(
        os.environ,
        JIETONG_SIP_PORT=str(sip_port),
        JIETONG_SMTP_PORT=str(_free_port(socket.SOCK_STREAM)),
        JIETONG_LOG_LEVEL="INFO",
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jietong.app.cli",
                "demo",
                "--port",
                str(http_port),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Demo(process, f"http://127.0.0.1:{http_port}", sip_port, tmp_path / "data", log)
    try:
        _wait(
            lambda: httpx.get(running.base + "/healthz", timeout=2).status_code == 200,
            90,
            "the demo server",
        )
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def agent_phone(demo: Demo, tmp_path: Path) -> Iterator[Path]:
    """agent1's baresip: registers with digest, answers automatically, says a 700 Hz tone."""
    home = tmp_path / "baresip"
    home.mkdir()
    (home / "config").write_text(
        f"sip_listen 127.0.0.1:{_free_port()}\n"
        "audio_player aubridge,nowhere\n"
        f"audio_source aufile,{_tone(tmp_path / 'tone.wav', 700.0, 120.0)}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule account.so\n"
    )
    (home / "accounts").write_text(
        f"<sip:agent1@127.0.0.1:{demo.sip_port}>;auth_pass=demo-sip-agent1-2026;"
        "answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n"
    )
    out = (tmp_path / "baresip.log").open("wb")
    process = subprocess.Popen(
        ["baresip", "-f", str(home)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
    )
    try:
        with demo.db() as db:
            _wait(
                lambda: db.execute("SELECT count(*) FROM sip_bindings").fetchone()[0] > 0,
                20,
                "agent1's phone to register",
            )
        yield tmp_path / "baresip.log"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


def _tone(path: Path, hz: float, seconds: float) -> Path:
    """What the agent says: a steady tone, 8 kHz mono (baresip's aufile reads it)."""
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())
    return path


def _scenario(tmp_path: Path, *, talk_s: float, hold_ms: int) -> Path:
    """The caller's scenario with its captures: key 1, key 1, then `talk_s` of speech;
    they hang up `hold_ms` after they start talking unless we hang up first."""
    stream = RtpStream()
    key_a = write_pcap(tmp_path / "key-a.pcap", stream.key("1"))
    key_b = write_pcap(tmp_path / "key-b.pcap", stream.key("1"))
    talk = write_pcap(tmp_path / "talk.pcap", stream.speech(talk_s))
    text = (SIPP_DIR / "caller_ivr_queue.xml").read_text()
    for name, value in (("KEY_A", key_a), ("KEY_B", key_b), ("TALK", talk), ("HOLD_MS", hold_ms)):
        text = text.replace(f"@{name}@", str(value))
    path = tmp_path / "caller.xml"
    path.write_text(text)
    return path


def _caller(demo: Demo, scenario: Path, tmp_path: Path, timeout_s: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "sipp", f"127.0.0.1:{demo.sip_port}", "-sf", str(scenario), "-s", "4008001234",
            "-i", "127.0.0.1", "-p", str(_free_port()), "-mp", str(_free_port() & ~1),
            "-m", "1", "-nostdin", "-timeout", f"{timeout_s}s", "-trace_err",
            "-error_file", str(tmp_path / "caller.err"),
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _available(demo: Demo, username: str, password: str) -> httpx.Client:
    agent = demo.login(username, password)
    agent.put("/api/v1/agents/me/presence", json={"state": "available"}).raise_for_status()
    return agent


def _cdr(demo: Demo) -> dict[str, object]:
    with demo.db() as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM voice_cdrs ORDER BY arrived_at DESC LIMIT 1").fetchone()
        return dict(row) if row is not None else {}


def _rms(path: Path) -> float:
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
    line = next(x for x in stat.stderr.splitlines() if x.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


def test_call_walks_ivr_queues_reaches_the_phone_is_recorded_transferred_and_ends(
    demo: Demo, agent_phone: Path, tmp_path: Path
):
    _need("sox")
    agent = _available(demo, "agent1", "demo-agent1-2026")
    admin = demo.login("admin", "demo-admin-2026")
    # The outside number is a SIPp "carrier" answering on the demo trunk's address.
    carrier_port = _free_port()
    trunk = admin.get("/api/v1/voice/trunks").json()[0]
    admin.patch(
        f"/api/v1/voice/trunks/{trunk['id']}", json={"port": carrier_port}
    ).raise_for_status()
    carrier = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(carrier_port), "-m", "1",
         "-nostdin", "-timeout", "120s"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    caller = _caller(demo, _scenario(tmp_path, talk_s=40, hold_ms=30000), tmp_path, 120)
    try:
        call = _wait(
            lambda: [c for c in agent.get("/api/v1/voice/calls").json() if c["phase"] == "bridged"],
            60,
            "the call to reach agent1's phone and be bridged",
        )[0]
        iid = call["interaction_id"]
        assert call["recording"] is True
        time.sleep(4)  # a few seconds of conversation on the recording
        moved = agent.post(f"/api/v1/voice/calls/{iid}/transfer", json={"number": "+8613900000000"})
        assert moved.status_code == 200, moved.text
        assert caller.wait(120) == 0, (tmp_path / "caller.err").read_text(errors="replace")
        carrier.wait(30)
    finally:
        for process in (caller, carrier):
            if process.poll() is None:
                process.kill()
    cdr = _wait(lambda: (c := _cdr(demo)) and c["ended_at"] and c, 20, "the CDR to close")
    assert cdr["caller"] == "+8613800138000"  # national caller id normalised to E.164
    assert cdr["ivr_outcome"] == "queue" and cdr["offers"] >= 1
    assert cdr["agent_user_id"] == agent.get("/api/v1/me").json()["user_id"]
    assert cdr["transfers"] == 1 and cdr["end_cause"] == "customer_hangup"
    assert not cdr["abandoned"]
    with demo.db() as db:
        state, customer = db.execute(
            "SELECT state, customer_id FROM interactions WHERE id = ?", (iid,)
        ).fetchone()
        known = db.execute(
            "SELECT customer_id FROM contact_points WHERE value = '+8613800138000'"
        ).fetchone()
    assert state == "wrap_up" and customer == known[0]  # Wang Fang popped
    listed = agent.get(f"/api/v1/voice/recordings/{iid}").json()
    assert len(listed) == 1
    wav = tmp_path / "recording.wav"
    wav.write_bytes(agent.get(listed[0]["url"]).content)
    assert _rms(wav) > 0.01  # caller's speech and the phone's tone, mixed


def test_media_process_killed_mid_call_leaves_the_api_up_and_closes_the_cdr(
    demo: Demo, agent_phone: Path, tmp_path: Path
):
    agent = _available(demo, "agent1", "demo-agent1-2026")
    caller = _caller(demo, _scenario(tmp_path, talk_s=60, hold_ms=60000), tmp_path, 120)
    try:
        _wait(
            lambda: [c for c in agent.get("/api/v1/voice/calls").json() if c["phase"] == "bridged"],
            60,
            "the call to be bridged",
        )
        pids = demo.media_pids()
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        assert httpx.get(demo.base + "/healthz", timeout=5).status_code == 200
        cdr = _wait(lambda: (c := _cdr(demo)) and c["ended_at"] and c, 20, "the CDR to close")
        assert cdr["end_cause"] == "media_lost"
        assert agent.get("/api/v1/voice/calls").json() == []
        # The caller got our BYE; a new media process is serving.
        assert caller.wait(30) == 0, (tmp_path / "caller.err").read_text(errors="replace")
        _wait(lambda: len(demo.media_pids()) == 1 and demo.media_pids() != pids, 20, "restart")
    finally:
        if caller.poll() is None:
            caller.kill()


def test_softphone_in_the_desk_holds_pauses_the_recording_and_hangs_up(
    demo: Demo, agent_phone: Path, tmp_path: Path
):
    """agent1's desk in Chromium: the call's softphone shows the call, and its buttons
    hold, pause the recording and hang up through the call-control API."""
    from tests.e2e.test_web_shell import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed")
    from playwright.sync_api import expect, sync_playwright

    agent = _available(demo, "agent1", "demo-agent1-2026")
    caller = _caller(demo, _scenario(tmp_path, talk_s=60, hold_ms=60000), tmp_path, 120)
    try:
        call = _wait(
            lambda: [c for c in agent.get("/api/v1/voice/calls").json() if c["phase"] == "bridged"],
            60,
            "the call to be bridged",
        )[0]
        iid = call["interaction_id"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(locale="en", extra_http_headers={"Accept-Language": "en"})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{demo.base}/login")
            page.fill("input[name=username]", "agent1")
            page.fill("input[name=password]", "demo-agent1-2026")
            page.click("button[type=submit]")
            page.wait_for_url(f"{demo.base}/home")
            page.goto(f"{demo.base}/desk/conversations/{iid}")
            phone = page.locator("#softphone")
            expect(phone).to_be_visible(timeout=15000)
            status = phone.locator("[data-softphone-status]")
            expect(status).to_contain_text("Connected", timeout=10000)
            expect(status).to_contain_text("recording")
            phone.locator("button[data-softphone=hold]").click()
            expect(status).to_contain_text("on hold", timeout=10000)
            assert agent.get(f"/api/v1/voice/calls/{iid}").json()["held"] is True
            phone.locator("button[data-softphone=hold]").click()  # resume
            expect(status).not_to_contain_text("on hold", timeout=10000)
            phone.locator("button[data-softphone=record]").click()
            expect(status).to_contain_text("recording paused", timeout=10000)
            assert agent.get(f"/api/v1/voice/calls/{iid}").json()["recording_paused"] is True
            artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "voice-softphone-en.png"))
            phone.locator("button[data-softphone=hangup]").click()
            cdr = _wait(lambda: (c := _cdr(demo)) and c["ended_at"] and c, 20, "the CDR to close")
            assert cdr["end_cause"] == "agent_hangup"
            assert errors == []
            context.close()
            browser.close()
        assert caller.wait(30) == 0, (tmp_path / "caller.err").read_text(errors="replace")
    finally:
        if caller.poll() is None:
            caller.kill()
