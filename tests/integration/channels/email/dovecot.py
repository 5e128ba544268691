"""A private Dovecot IMAP server for one test: temporary config, maildir and passwd file
in a temporary directory, on a free loopback port, started and stopped by the test itself.

Needs Debian's `dovecot-imapd` (the `dovecot` binary) and root (Dovecot drops to its
own users). Without it the tests skip, unless JIETONG_REQUIRE_SERVICES=1 (CI), where a
missing Dovecot fails the run.

Beside it, what the IMAP tests use with it: a client playing the mail server that
delivers into the mailbox (`imap_server`), the poller's view of the mailbox (`mailbox`),
an in-memory position store, numbered test mail, and readers of the folder's flags.
The email package's conftest makes the fixtures available to every test there.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

from jietong.channels.email.imap_in import Mailbox, Position
from jietong.channels.email.smtp_out import Security

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


@pytest.fixture
def imap_server(dovecot: Dovecot) -> Iterator[IMAPClient]:
    """A second client, playing the mail server that delivers into the mailbox."""
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    client.login(dovecot.username, dovecot.password)
    yield client
    client.logout()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """The Dovecot mailbox as the poller is configured to read it."""
    return Mailbox(
        host=dovecot.host,
        port=dovecot.port,
        username=dovecot.username,
        password=dovecot.password,
        security=Security.NONE,
        timeout=10,
    )


class MemoryPositions:
    """The poller's position store, in memory; `saves` lists every position saved."""

    def __init__(self, start: Position | None = None) -> None:
        self.position = start
        self.saves: list[Position] = []

    def load(self) -> Position | None:
        return self.position

    def save(self, position: Position) -> None:
        self.position = position
        self.saves.append(position)


def numbered_mail(number: int, message_id: str | None = None) -> bytes:
    """Mail number `number` to the mailbox, its body "body <number>" (Message-ID
    q<number>@example.org unless given)."""
    return (
        f"From: Customer {number} <c{number}@example.org>\r\nTo: {USER}\r\n"
        f"Subject: question {number}\r\n"
        f"Message-ID: <{message_id or f'q{number}@example.org'}>\r\n\r\nbody {number}\r\n"
    ).encode()


def seen(client: IMAPClient) -> list[bool]:
    """Whether each mail in INBOX, in UID order, is flagged \\Seen."""
    client.select_folder("INBOX", readonly=True)
    found = client.fetch(client.search("ALL"), ["FLAGS"])
    return [b"\\Seen" in found[uid][b"FLAGS"] for uid in sorted(found)]


def bodies(raws: Sequence[bytes]) -> list[str]:
    """The numbers in the bodies of `numbered_mail`s."""
    return [raw.rsplit(b"body ", 1)[1].strip().decode() for raw in raws]
