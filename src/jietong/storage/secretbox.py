"""Secrets at rest: channel-account secrets and SIP trunk passwords are stored sealed.

A `SecretBox` holds the installation's Fernet keys: the first seals, every one opens
(`MultiFernet`), so a new key can be put in front while rows sealed with the old one are
still read; `jietong secrets rotate` then re-seals every row with the new key, after
which the old one can go (ADR 0016).

A sealed value is `fernet:` followed by the token. A value without that mark was written
before secrets were sealed and is read as it is, so an existing database keeps working
and is sealed at the next start-up (`reseal`, in the composition root).

The box is not a process global: each platform builds one from its settings and gives it
to its session factory (`session_factory`); whoever holds a session or a unit of work
finds it there (`secret_box_of`). Tests run several platforms with different keys in one
process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

SEALED_PREFIX = "fernet:"
"""Marks a sealed value; anything else is a plaintext value from before sealing."""

_INFO_KEY = "jietong_secret_box"


class UndecryptableSecret(RuntimeError):
    """A stored secret opens with none of the configured keys: the key that sealed it is
    missing from `JIETONG_SECRETS_KEYS` (or the key file), or the value was damaged. An
    operator error, never an empty secret. The message names the owner, not the value."""


class SecretBox:
    """Seals and opens secret strings with the installation's keys (first one seals)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def __repr__(self) -> str:  # never the keys
        return "SecretBox(<keys hidden>)"

    @staticmethod
    def new_key() -> bytes:
        return Fernet.generate_key()

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(SEALED_PREFIX)

    def seal(self, plain: str) -> str:
        """`plain` sealed with the first key, marked with `SEALED_PREFIX`."""
        return SEALED_PREFIX + self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, stored: object, *, owner: str) -> str:
        """The secret in `stored`: opened if sealed, as it is if plaintext (a value written
        before sealing). Raises `UndecryptableSecret` naming `owner` (e.g. "SIP trunk
        <id>") when no configured key opens it."""
        if not self.is_sealed(stored):
            return str(stored)
        token = str(stored)[len(SEALED_PREFIX) :].encode("ascii", "replace")
        try:
            return self._fernet.decrypt(token).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise UndecryptableSecret(
                f"{owner}: a stored secret cannot be decrypted with any configured key "
                "(JIETONG_SECRETS_KEYS or <data_dir>/secrets.key); was a key removed?"
            ) from None

    def seal_values(self, plain: Mapping[str, str]) -> dict[str, str]:
        """A secrets dict sealed value by value; the names stay readable."""
        return {name: self.seal(value) for name, value in plain.items()}

    def open_values(self, stored: Mapping[str, Any], *, owner: str) -> dict[str, str]:
        """The opened secrets of a dict from `seal_values` (plaintext values pass)."""
        return {
            name: self.open(value, owner=f"{owner} secret '{name}'")
            for name, value in stored.items()
        }


def session_factory(engine: Engine, box: SecretBox) -> sessionmaker[Session]:
    """The platform's session factory: every session it makes carries `box`."""
    return sessionmaker(engine, expire_on_commit=False, info={_INFO_KEY: box})


def secret_box_of(source: Session | sessionmaker[Session]) -> SecretBox:
    """The box given to the factory that made `source` (a session, or the factory)."""
    info = source.info if isinstance(source, Session) else source.kw.get("info") or {}
    box = info.get(_INFO_KEY)
    if not isinstance(box, SecretBox):
        raise RuntimeError(
            "these sessions carry no SecretBox: build them with storage.secretbox.session_factory"
        )
    return box
