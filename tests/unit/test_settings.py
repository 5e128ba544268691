"""Settings layering: defaults give the embedded mode; the TOML file overrides them; the
JIETONG_* environment overrides the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jietong.app.settings import Settings


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("JIETONG_DATABASE_URL", "JIETONG_REDIS_URL", "JIETONG_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("/var/jietong.db")
    assert settings.redis_url is None
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        'http_port = 9100\nredis_url = "redis://file:6379/0"\n'
        'database_url = "postgresql+psycopg://u:p@db/jt"\n'
    )
    monkeypatch.setenv("JIETONG_CONFIG", str(config))
    monkeypatch.setenv("JIETONG_HTTP_PORT", "9200")
    settings = Settings()
    assert settings.http_port == 9200  # environment beats the file
    assert settings.redis_url == "redis://file:6379/0"  # the file beats the default
    assert settings.effective_database_url == "postgresql+psycopg://u:p@db/jt"


def test_bad_values_are_refused_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIETONG_HTTP_PORT", "99999")
    with pytest.raises(ValidationError, match="http_port"):
        Settings()


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).secret()
    assert len(first) == 64 and Settings(data_dir=tmp_path).secret() == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_a_writer_process_is_refused_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("JIETONG_DATABASE_URL", "JIETONG_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JIETONG_INTAKE_WRITER", "process")
    with pytest.raises(ValidationError, match="needs PostgreSQL"):
        Settings()
    monkeypatch.setenv("JIETONG_DATABASE_URL", "postgresql+psycopg://u:p@db/jt")
    assert Settings().intake_writer == "process"
