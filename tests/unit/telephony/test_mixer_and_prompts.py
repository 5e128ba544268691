"""The per-tick mix over all legs, prompts and WAV conversion, without sockets."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from jietong.telephony.media import mixer, prompts


def frames_of(*levels):
    return np.array([[level] * 160 for level in levels], dtype=np.int32)


def run_mix(bridge, talks, listens, frames, bridges):
    topology = mixer.Topology(np.array(bridge, dtype=np.int32), bridges)
    return mixer.mix_minus(
        topology, frames, np.array(talks, dtype=bool), np.array(listens, dtype=bool)
    )


def test_each_leg_hears_the_others_but_not_itself():
    # legs 0,1,2 in a conference (bridge 0), legs 3,4 in a call (bridge 1), leg 5 alone
    heard, sums = run_mix(
        [0, 0, 0, 1, 1, -1], [True] * 6, [True] * 6, frames_of(1, 10, 100, 1000, 2000, 7), 2
    )
    assert heard[:, 0].tolist() == [110, 101, 11, 2000, 1000, 0]
    assert sums[:, 0].tolist() == [111, 3000]


def test_mute_and_hold():
    # leg 0 muted: others don't hear it, it hears them; leg 2 held: hears nothing from
    # the bridge (music comes separately) and is not heard
    heard, sums = run_mix(
        [0, 0, 0], [False, True, False], [True, True, False], frames_of(1, 10, 100), 1
    )
    assert heard[:, 0].tolist() == [10, 0, 0]
    assert sums[:, 0].tolist() == [10]


def test_encode_clips_instead_of_wrapping():
    loud = frames_of(40000, -40000)
    codes = mixer.encode(loud, np.zeros(2, dtype=np.uint8))
    decoded = mixer.decode_received(codes, np.zeros(2, dtype=np.uint8), np.ones(2, dtype=bool))
    assert decoded[0, 0] > 30000 and decoded[1, 0] < -30000


def test_players_loop_or_stop_at_the_end():
    bank = np.arange(1000, dtype=np.int16)
    start = np.array([100, 100], dtype=np.int64)
    length = np.array([200, 200], dtype=np.int64)
    position = np.array([160, 160], dtype=np.int64)
    loop = np.array([True, False])
    frames = prompts.player_frames(bank, start, length, position, loop)
    assert frames[0, :40].tolist() == list(range(260, 300))
    assert frames[0, 40:].tolist() == list(range(100, 220))  # wrapped to the start
    assert frames[1, 40:].tolist() == [0] * 120  # once: silence after the end


def test_prompt_bank_keeps_old_slices_when_a_prompt_is_replaced():
    bank = prompts.PromptBank()
    first = bank.add("p", np.ones(10, dtype=np.int16))
    second = bank.add("p", np.full(5000, 2, dtype=np.int16))
    assert bank.get("p") == second
    assert bank.samples[first.start : first.start + 10].tolist() == [1] * 10


@pytest.mark.parametrize(
    ("rate", "channels", "width"), [(8000, 1, 2), (16000, 2, 2), (44100, 1, 1)]
)
def test_wav_files_are_converted_to_8k_mono(tmp_path, rate, channels, width):
    seconds = 0.5
    t = np.arange(int(rate * seconds)) / rate
    signal = 0.5 * np.sin(2 * np.pi * 440 * t)
    as_8bit = (signal * 127 + 128).astype(np.uint8)  # 8-bit WAV is unsigned
    raw = as_8bit if width == 1 else (signal * 32767).astype("<i2")
    data = np.repeat(raw, channels)
    path = tmp_path / "p.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    pcm = prompts.read_wav(path)
    assert abs(len(pcm) - 4000) <= 1
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / len(pcm) - 440) < 5
    assert 0.3 < np.abs(pcm).max() / 32767 < 0.6


def test_unreadable_prompt_is_an_error(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(b"not a wav")
    with pytest.raises(prompts.PromptError):
        prompts.read_wav(path)
