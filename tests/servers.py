"""Starting a real `jietong` server process on loopback for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server process: ours minus any JIETONG_* of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIETONG_")}
    env.update(
        JIETONG_DATA_DIR=str(data_dir), JIETONG_SECRET_KEY="e2e", JIETONG_LOG_LEVEL="WARNING"
    )
    env.update({f"JIETONG_{k.upper()}": v for k, v in settings.items()})
    return env


def start_server(env: dict[str, str], port: int, command: str = "serve") -> subprocess.Popen[bytes]:
    """Run `jietong <command> --port PORT` and wait until /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jietong.app.cli", command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"server exited: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start within 60 s")
