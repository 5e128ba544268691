"""Starting and stopping media processes (the unit of capacity and of failure).

``MediaProcess.start`` spawns ``python -m jietong.telephony.media``, hands it a fresh
secret on stdin and waits for its readiness line. The child runs in its own session, so
a signal aimed at the web app's process group does not reach it, and with
``exit_with_parent`` it exits when its parent is gone instead of carrying orphaned calls.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class MediaStartError(RuntimeError):
    """The media process did not come up."""


@dataclass(frozen=True, slots=True)
class MediaProcessSpec:
    media_root: Path
    name: str = "media-0"
    control: str = "tcp:127.0.0.1:0"
    bind_host: str = "127.0.0.1"
    rtp_ports: tuple[int, int] | None = None
    rtp_timeout_s: float = 30.0
    exit_with_parent: bool = True
    nice: int = 0  # e.g. -10: the tick then wins the CPU from web and test workers
    python: str = sys.executable

    def argv(self) -> list[str]:
        args = [self.python, "-m", "jietong.telephony.media", "--control", self.control,
                "--media-root", str(self.media_root), "--bind-host", self.bind_host,
                "--rtp-timeout", str(self.rtp_timeout_s), "--name", self.name]  # fmt: skip
        if self.rtp_ports is not None:
            args += ["--rtp-ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}"]
        if self.exit_with_parent:
            args.append("--exit-with-parent")
        if self.nice:
            args += ["--nice", str(self.nice)]
        return args


class MediaProcess:
    """A running media process: where to reach it, and how to stop it."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str, address: str, secret: str):
        self._popen = popen
        self.name = name
        self.address = address
        self.secret = secret

    @property
    def pid(self) -> int:
        return self._popen.pid

    @classmethod
    def start(cls, spec: MediaProcessSpec, *, timeout: float = 20.0) -> MediaProcess:
        secret = secrets.token_urlsafe(32)
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            spec.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert popen.stdin is not None and popen.stdout is not None
        popen.stdin.write(secret.encode() + b"\n")
        popen.stdin.close()
        try:
            ready = _read_line(popen, timeout)
            info = json.loads(ready)
            address = str(info["control"])
        except (MediaStartError, ValueError, KeyError) as exc:
            popen.kill()
            popen.wait()
            raise MediaStartError(f"media process {spec.name} did not start: {exc}") from exc
        popen.stdout.close()  # the child writes nothing more there
        return cls(popen, spec.name, address, secret)

    def poll(self) -> int | None:
        """The exit status, or None while running."""
        return self._popen.poll()

    def terminate(self, timeout: float = 10.0) -> int:
        """Ask it to finish recordings and exit; kill it if it does not."""
        if self._popen.poll() is None:
            self._popen.terminate()
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            return self._popen.wait()

    def kill(self) -> int:
        """Kill at once (what a crash looks like to everyone else)."""
        if self._popen.poll() is None:
            self._popen.kill()
        return self._popen.wait()


def _read_line(popen: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert popen.stdout is not None
    deadline = time.monotonic() + timeout
    data = b""
    fd = popen.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MediaStartError("no readiness line in time")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise MediaStartError(f"exited with status {popen.wait()}")
            data += chunk
    return data.split(b"\n", 1)[0]
