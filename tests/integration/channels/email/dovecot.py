"""A private Dovecot IMAP server for one test: temporary config, maildir and passwd file
in a temporary directory, on a free loopback port, started and stopped by the test itself.

Needs Debian's `dovecot-imapd` (the `dovecot` binary) and root (Dovecot drops to its
own users). Without it the tests skip, unless JIETONG_REQUIRE_SERVICES=1 (CI), where a
missing Dovecot fails the run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("JIETONG_REQUIRE_SERVICES") == "1"
DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER = "support@demo.jietong.example"
PASSWORD = "imap-test-password-1"


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    username: str
    password: str
    root: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, uid: int, gid: int) -> str:
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/mail/%n
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
imap_idle_notify_interval = 1 secs
"""


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("dovecot did not start listening")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None or os.geteuid() != 0:
        reason = "dovecot (Debian package dovecot-imapd) not installed, or not root"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason}; JIETONG_REQUIRE_SERVICES=1 needs it")
        pytest.skip(reason)
    # Not under tmp_path: pytest keeps that 0700, and Dovecot's unprivileged auth
    # process must reach the passwd file.
    root = Path(tempfile.mkdtemp(prefix="jietong-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    for sub in ("mail", "home"):
        os.chown(root / sub, nobody.pw_uid, nobody.pw_gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, nobody.pw_uid, nobody.pw_gid))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stderr=subprocess.PIPE)
    try:
        _wait_listening(port, process, root / "dovecot.log")
        yield Dovecot("127.0.0.1", port, USER, PASSWORD, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
