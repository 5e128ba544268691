"""A real media process per test (own process, loopback UDP), and a connected client;
the platform with voice on, for tests that start the whole app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.telephony.media.process import MediaProcess, MediaProcessSpec

from .sip_harness import free_udp_port


@pytest.fixture
def media_process(tmp_path: Path) -> Iterator[MediaProcess]:
    process = MediaProcess.start(MediaProcessSpec(tmp_path, rtp_timeout_s=30.0))
    yield process
    process.terminate(timeout=5)


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def voice_platform(settings: Settings) -> Iterator[Platform]:
    """The platform as the server builds it with voice_enabled (SIP on a free UDP port,
    a media process once the app starts), on each database; no SMTP."""
    voice = {"voice_enabled": True, "sip_port": free_udp_port(), "smtp_enabled": False}
    built = build_platform(settings.model_copy(update=voice))
    yield built
    built.close()
