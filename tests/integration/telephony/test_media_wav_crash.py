"""A recording whose media process is killed in its first second is still a valid WAV:
the header is on disk before ``record_start`` is answered."""

from __future__ import annotations

import asyncio
import os
import signal
import wave

from jietong.telephony.media.client import MediaClient

from .peers import RtpPeer


def test_kill_9_right_after_record_start_leaves_a_valid_wav(media_process, media_root):
    async def scenario() -> None:
        client = await MediaClient.connect(media_process.address, media_process.secret)
        caller, agent = RtpPeer(440.0, 1), RtpPeer(1000.0, 2)
        a = await client.create_leg("k-a", remote=caller.address)
        b = await client.create_leg("k-b", remote=agent.address)
        await client.create_bridge("k", [a.leg_id, b.leg_id])
        await client.record_start("k", "rec/k.wav")
        os.kill(media_process.pid, signal.SIGKILL)  # before the first second is written
        await asyncio.wait_for(client.wait_lost(), 5)
        await client.close()
        caller.close()
        agent.close()

    asyncio.run(scenario())
    path = media_root / "rec" / "k.wav"
    assert path.stat().st_size >= 44
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 0  # killed before any audio reached the file
