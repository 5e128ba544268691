"""Prompts and music on hold: loading audio into one sample bank and reading frames from it.

Every prompt lives in one contiguous int16 bank (8 kHz mono), so the engine reads the next
frame of every playing leg with a single gather: ``bank[start + position + 0..159]``.
WAV files of any common PCM layout are converted on load (channels averaged, resampled
with a polyphase filter), which keeps per-tick work independent of the source format.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

RATE: Final = 8000
FRAME: Final = 160  # samples per 20 ms tick


class PromptError(ValueError):
    """The audio could not be loaded or converted."""


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """Where a prompt sits in the bank."""

    prompt_id: str
    start: int
    length: int

    @property
    def duration_ms(self) -> int:
        return self.length * 1000 // RATE


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    """Read a PCM WAV file as 8 kHz mono int16, converting channels, width and rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(f"cannot read {path.name}: {exc}") from exc
    samples = _to_float(raw, width).reshape(-1, channels).mean(axis=1)
    return to_pcm16(resample(samples, rate))


def _to_float(raw: bytes, width: int) -> npt.NDArray[np.float64]:
    """PCM bytes to floats in [-1, 1). 8-bit WAV is unsigned; 24-bit is packed 3 bytes."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float64) / float(1 << 23)
    if width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    raise PromptError(f"unsupported sample width {width}")


def resample(samples: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Resample float samples to 8 kHz (polyphase FIR, so speech keeps its band)."""
    if rate == RATE:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, RATE)
    return np.asarray(resample_poly(samples, RATE // g, rate // g), dtype=np.float64)


def to_pcm16(samples: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def tone(freqs: tuple[float, ...], seconds: float, level: float = 0.25) -> npt.NDArray[np.int16]:
    """A sum of sines (test signals, the load generator's voices)."""
    t = np.arange(int(seconds * RATE)) / RATE
    mix = sum(np.sin(2 * np.pi * f * t) for f in freqs) / max(len(freqs), 1)
    return to_pcm16(level * np.asarray(mix, dtype=np.float64))


def default_music_on_hold() -> npt.NDArray[np.int16]:
    """A gentle built-in arpeggio, so hold works before any file is configured."""
    notes = (261.63, 329.63, 392.00, 523.25, 392.00, 329.63)  # C major, up and down
    parts = []
    for f in notes:
        note = tone((f, f * 2), 0.4, level=0.15).astype(np.float64)
        envelope = np.minimum(1.0, np.linspace(0, 8, len(note))) * np.linspace(1, 0.2, len(note))
        parts.append(note * envelope)
    return np.concatenate(parts).astype(np.int16)


class PromptBank:
    """All loaded prompts in one growing int16 array. Prompts are never unloaded in place:
    replacing one appends the new audio (legs already playing keep their old slice)."""

    def __init__(self) -> None:
        self.samples: npt.NDArray[np.int16] = np.zeros(FRAME, dtype=np.int16)
        self._used = FRAME  # slot 0..159 is silence, a safe target for idle players
        self._prompts: dict[str, PromptInfo] = {}

    def add(self, prompt_id: str, pcm: npt.NDArray[np.int16]) -> PromptInfo:
        if len(pcm) == 0:
            raise PromptError("empty prompt")
        needed = self._used + len(pcm)
        if needed > len(self.samples):
            grown = np.zeros(max(needed, 2 * len(self.samples)), dtype=np.int16)
            grown[: self._used] = self.samples[: self._used]
            self.samples = grown
        self.samples[self._used : needed] = pcm
        info = PromptInfo(prompt_id, self._used, len(pcm))
        self._used = needed
        self._prompts[prompt_id] = info
        return info

    def get(self, prompt_id: str) -> PromptInfo | None:
        return self._prompts.get(prompt_id)


def player_frames(
    bank: npt.NDArray[np.int16],
    start: npt.NDArray[np.int64],
    length: npt.NDArray[np.int64],
    position: npt.NDArray[np.int64],
    loop: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int32]:
    """Next frame of each player (rows), zero past the end of a non-looping prompt."""
    offset = position[:, None] + np.arange(FRAME)
    wrapped = np.where(loop[:, None], offset % length[:, None], offset)
    valid = wrapped < length[:, None]
    index = start[:, None] + np.minimum(wrapped, length[:, None] - 1)
    return np.where(valid, bank[index], 0).astype(np.int32)
