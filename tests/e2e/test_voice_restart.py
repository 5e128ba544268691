"""The whole server killed mid-call (SIGKILL, as a power cut or the OOM killer would),
then started again on the same data: the call it left "active" is closed at start-up
with cause ``media_lost`` and disposition ``lost``, ended when the dead server was last
known alive (its heartbeat) rather than at the restart, and its interaction is settled.
A real `jietong demo` process, a real SIPp caller."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_voice_call import _free_port, _need, _wait

pytestmark = pytest.mark.slow


def _start(tmp_path: Path, http_port: int, sip_port: int, log_name: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        JIETONG_SIP_PORT=str(sip_port),
        JIETONG_SMTP_PORT=str(_free_port(socket.SOCK_STREAM)),
        JIETONG_LOG_LEVEL="INFO",
    )
    with (tmp_path / log_name).open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jietong.app.cli", "demo", "--port", str(http_port),
                "--data-dir", str(tmp_path / "data"),
            ],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes its media too
        )  # fmt: skip
    _wait(
        lambda: httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200,
        90,
        "the demo server",
    )
    return process


def _row(tmp_path: Path, sql: str) -> dict[str, object] | None:
    with sqlite3.connect(tmp_path / "data" / "jietong.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute(sql).fetchone()
        return dict(row) if row is not None else None


def _utc(value: object) -> datetime:
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def test_a_call_left_open_by_a_killed_server_is_closed_when_it_starts_again(
    tmp_path: Path,
) -> None:
    _need("sipp")
    http_port, sip_port = _free_port(socket.SOCK_STREAM), _free_port()
    server = _start(tmp_path, http_port, sip_port, "first.log")
    caller = subprocess.Popen(
        [
            "sipp", f"127.0.0.1:{sip_port}", "-sn", "uac", "-s", "4008001234",
            "-i", "127.0.0.1", "-p", str(_free_port()), "-m", "1", "-d", "120000",
            "-nostdin", "-timeout", "150s",
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    second: subprocess.Popen[bytes] | None = None
    try:
        call = _wait(
            lambda: _row(tmp_path, "SELECT * FROM voice_calls WHERE state = 'active'"),
            30,
            "the call in the database",
        )
        assert call["node"] == f"127.0.0.1:{sip_port}"
        time.sleep(6)  # the call goes on; the server beats (every 5 s)
        killed_at = datetime.now(UTC)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        caller.kill()
        assert _row(tmp_path, "SELECT state FROM voice_calls") == {"state": "active"}
        beat = _row(tmp_path, "SELECT seen_at FROM voice_nodes")
        assert beat is not None
        time.sleep(4)  # the restart comes later than the death
        restarted_at = datetime.now(UTC)
        second = _start(tmp_path, http_port, sip_port, "second.log")
        cdr = _wait(
            lambda: _row(tmp_path, "SELECT * FROM voice_cdrs WHERE ended_at IS NOT NULL"),
            30,
            "the closed CDR",
        )
    finally:
        for process in (server, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
        if caller.poll() is None:
            caller.kill()
    assert cdr["end_cause"] == "media_lost" and cdr["disposition"] == "lost"
    ended = _utc(cdr["ended_at"])
    # At the dead server's last heartbeat: after the call began, by the kill, not the restart.
    assert ended == _utc(beat["seen_at"])
    assert _utc(cdr["arrived_at"]) < ended <= killed_at < restarted_at
    assert not cdr["abandoned"]
    interaction = _row(
        tmp_path, f"SELECT state FROM interactions WHERE id = '{cdr['interaction_id']}'"
    )
    assert interaction is not None and interaction["state"] == "abandoned"
    assert _row(tmp_path, "SELECT state FROM voice_calls") == {"state": "ended"}
