"""One typed Settings object, layered: defaults -> TOML file -> JIETONG_* environment.

This is the only module that reads the environment. Defaults give the embedded mode:
a SQLite file under the data directory, the in-process event bus, no other service.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV_VAR = "JIETONG_CONFIG"
DEFAULT_CONFIG_FILE = "jietong.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIETONG_", extra="forbid")

    data_dir: Path = Field(default=Path("./var"), description="Where SQLite, blobs and keys live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means sqlite:///<data_dir>/jietong.db.",
    )
    redis_url: str | None = Field(default=None, description="Unset means the in-process bus.")
    event_stream: str = Field(
        default="jietong:events",
        max_length=200,
        description="Redis stream the events are published to.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens; unset means a random key kept in <data_dir>/secret.key.",
    )
    secrets_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys sealing stored channel secrets and trunk passwords, comma "
        "separated: the first seals, all open (rotation). Unset means <data_dir>/secrets.key.",
    )
    default_region: str = Field(default="CN", description="Region for phone numbers without +.")
    default_locale: str = "zh-CN"
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    secure_cookies: bool = Field(default=False, description="Set Secure on cookies (HTTPS).")
    login_attempts_per_minute: int = Field(default=10, ge=1)
    outbox_relay_enabled: bool = Field(
        default=True, description="Relay committed events to the bus (off only for tests)."
    )
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    intake_writer: Literal["thread", "process"] = Field(
        default="thread",
        description="Where the intake writer runs: a thread of the server, or (PostgreSQL "
        "only) a process of its own, which shares no interpreter lock with the event loop "
        "(ADR 0012 §9).",
    )
    log_level: str = "INFO"
    # Channels (issue 3): conversation threading and the outbound delivery worker.
    conversation_open_hours: float = Field(
        default=72, gt=0, description="An open conversation takes new messages this long."
    )
    conversation_reopen_hours: float = Field(
        default=168, ge=0, description="A resolved conversation is followed up this long."
    )
    delivery_worker_enabled: bool = Field(
        default=True, description="Send queued outbound messages from the server process."
    )
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_backoff_seconds: float = Field(default=5.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    delivery_lease_seconds: float = Field(
        default=120.0, gt=0, description="A send not finished by then is retried."
    )
    webhook_max_age_seconds: int = Field(
        default=300, ge=10, description="Signed webhooks older than this are refused."
    )
    # Voice (issue 6): the orchestrator, its media processes and call recordings.
    voice_enabled: bool = Field(
        default=False, description="Answer calls here (SIP + media); `jietong demo` turns it on."
    )
    voice_media_processes: int = Field(default=1, ge=1, le=64, description="One per core.")
    voice_media_nice: int = Field(
        default=0, ge=-20, le=19, description="Media process priority (-10 when allowed)."
    )
    voice_record_calls: bool = Field(default=True, description="Record every bridged call.")
    voice_recording_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Older recordings are deleted (audited)."
    )
    voice_demo_always_open: bool = Field(
        default=False, description="The demo IVR ignores business hours (demos at any hour)."
    )
    # Email channel (issue 3): the built-in SMTP receiver runs while some organisation
    # has an email account receiving through it (the demo has one); IMAP accounts are polled.
    smtp_enabled: bool = Field(default=True, description="Run the built-in SMTP receiver.")
    smtp_host: str = Field(default="127.0.0.1", description="SMTP receiver bind address.")
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_max_message_bytes: int = Field(
        default=36 * 1024 * 1024, ge=1024, description="Larger mail is refused with 552."
    )
    email_poll_seconds: float = Field(default=60.0, gt=0, description="IMAP without IDLE.")
    email_accounts_refresh_seconds: float = Field(default=10.0, gt=0)
    # SIP signaling (issue 6): where phones and trunks reach us.
    sip_host: str = Field(default="127.0.0.1", description="SIP/UDP bind address.")
    sip_port: int = Field(
        default=5060, ge=0, le=65535, description="SIP/UDP port (JIETONG_SIP_PORT)."
    )
    sip_public_host: str | None = Field(
        default=None, description="Address in our Contact and SDP; unset means sip_host."
    )
    sip_realm: str = Field(default="jietong", max_length=128, description="Digest realm of phones.")

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _writer_process_needs_postgresql(self) -> Settings:
        # On SQLite a writer process and the server's relay contend for the one write
        # lock across processes: measured, messages reached agents' screens seconds late.
        if self.intake_writer == "process" and self.effective_database_url.startswith("sqlite"):
            raise ValueError("intake_writer=process needs PostgreSQL (database_url)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        # Earlier sources win: explicit arguments, then environment, then the file.
        return (init_settings, env_settings, toml)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jietong.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def secret(self) -> bytes:
        """The signing key: configured, or generated once and kept in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        return path.read_text().strip().encode()

    def secrets_keyring(self) -> list[bytes]:
        """The keys sealing secrets at rest, first one sealing: `secrets_keys`, or the
        keys in <data_dir>/secrets.key (one generated there the first time). Separate from
        the signing key of `secret()`: rotating one must not touch the other."""
        if self.secrets_keys is not None:
            text, source = self.secrets_keys.get_secret_value(), "JIETONG_SECRETS_KEYS"
        else:
            path = self.data_dir / "secrets.key"
            if not path.exists():
                _write_new_key_file(path)
            text, source = path.read_text(), str(path)
        keys = [k.strip().encode() for k in text.replace("\n", ",").split(",") if k.strip()]
        if not keys:
            raise ValueError(f"{source} holds no key")
        for n, key in enumerate(keys, 1):
            try:
                Fernet(key)
            except ValueError:  # the key itself is never put in the message
                raise ValueError(
                    f"{source}: key {n} of {len(keys)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from None
        return keys


def _write_new_key_file(path: Path) -> None:
    """A new key in `path` (mode 0600), written whole before it appears there: another
    process starting at the same moment reads either no file or the complete key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode() + "\n")
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it meanwhile: its key is the one
    finally:
        draft.unlink(missing_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; pass overrides for tests and CLI flags."""
    return Settings(**overrides)


def environment_value(name: str) -> str | None:
    """Read one variable that is not a setting (test harness URLs); kept here on purpose."""
    return os.environ.get(name)
