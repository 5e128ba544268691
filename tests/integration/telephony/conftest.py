"""A real media process per test (own process, loopback UDP), and a connected client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jietong.telephony.media.process import MediaProcess, MediaProcessSpec


@pytest.fixture
def media_process(tmp_path) -> Iterator[MediaProcess]:
    process = MediaProcess.start(MediaProcessSpec(tmp_path, rtp_timeout_s=30.0))
    yield process
    process.terminate(timeout=5)


@pytest.fixture
def media_root(tmp_path):
    return tmp_path
