"""G.711 mu-law (PCMU) and A-law (PCMA) as lookup tables, applied to whole frame matrices.

The engine converts every leg's 20 ms frame in one numpy gather per direction, so the
codec is two tables: 256 codes -> int16 for decoding and 65,536 int16 values -> code for
encoding (indexed by the sample's unsigned 16-bit pattern). Both tables are built once,
vectorised, from the segment rules of ITU-T G.711; negative inputs are folded with the
one's complement (``~x``), as the ITU-T G.191 reference software does, so the quantiser is
symmetric around -0.5 rather than 0.

Codes are selected per leg by a small integer (``PCMU`` = 0, ``PCMA`` = 1), so one
``np.take`` over a stacked table serves a mix of codecs without branching.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

PCMU: Final = 0
PCMA: Final = 1
CODEC_NAMES: Final = {"PCMU": PCMU, "PCMA": PCMA}
STATIC_PAYLOAD_TYPES: Final = {PCMU: 0, PCMA: 8}  # RFC 3551, table 4
SILENCE_CODE: Final = {PCMU: 0xFF, PCMA: 0xD5}  # the code each law uses for 0 (A-law: +8)

_MU_BIAS: Final = 0x84  # 33 in the 14-bit domain, scaled to 16 bits
_MU_CLIP: Final = 32635  # largest magnitude that still fits after adding the bias


def _mulaw_encode_all(x: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """Encode int32 samples in the int16 range to mu-law codes (vectorised)."""
    negative = x < 0
    magnitude = np.where(negative, ~x, x)
    biased = np.minimum(magnitude, _MU_CLIP) + _MU_BIAS
    # Segment = position of the highest set bit above bit 7 (biased >= 132 > 2**7).
    exponent = np.floor(np.log2(biased)).astype(np.int32) - 7
    mantissa = (biased >> (exponent + 3)) & 0x0F
    code = (exponent << 4) | mantissa | np.where(negative, 0x80, 0)
    return np.asarray(~code & 0xFF, dtype=np.uint8)


def _mulaw_decode_all(codes: npt.NDArray[np.int32]) -> npt.NDArray[np.int16]:
    u = ~codes & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + _MU_BIAS) << exponent
    value = np.where(u & 0x80, _MU_BIAS - magnitude, magnitude - _MU_BIAS)
    return value.astype(np.int16)


def _alaw_encode_all(x: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """Encode to A-law: 12-bit magnitude, segments 0 and 1 share the same step size."""
    negative = x < 0
    magnitude = np.where(negative, ~x, x) >> 4
    # Segment s >= 1 holds magnitudes [16 * 2**(s-1), 16 * 2**s); segment 0 holds [0, 16).
    segment = np.where(
        magnitude < 16, 0, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 3
    )
    mantissa = np.where(segment == 0, magnitude, (magnitude >> np.maximum(segment - 1, 0)) - 16)
    code = (segment << 4) | (mantissa & 0x0F) | np.where(negative, 0, 0x80)
    return ((code ^ 0x55) & 0xFF).astype(np.uint8)


def _alaw_decode_all(codes: npt.NDArray[np.int32]) -> npt.NDArray[np.int16]:
    a = codes ^ 0x55
    segment = (a >> 4) & 0x07
    step = (a & 0x0F) << 4
    # Reconstruct at the middle of the quantisation interval (the +8 / +0x108 offsets).
    value = np.where(segment == 0, step + 8, (step + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, value, -value).astype(np.int16)


def _build_tables() -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    codes = np.arange(256, dtype=np.int32)
    decode = np.stack([_mulaw_decode_all(codes), _alaw_decode_all(codes)])
    # Index the encode tables by the sample's uint16 bit pattern, so callers can use a view.
    samples = np.arange(65536, dtype=np.int32)
    signed = np.where(samples >= 32768, samples - 65536, samples)
    encode = np.stack([_mulaw_encode_all(signed), _alaw_encode_all(signed)])
    decode.setflags(write=False)
    encode.setflags(write=False)
    return decode.reshape(-1), encode.reshape(-1)


# Flat tables: decode index = codec * 256 + code; encode index = codec * 65536 + uint16(sample).
DECODE_TABLE, ENCODE_TABLE = _build_tables()


def decode(codes: npt.NDArray[np.uint8], codec: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    """Decode a (legs, samples) code matrix; ``codec`` holds one law per row."""
    index = codes.astype(np.intp) + (codec.astype(np.intp) << 8)[:, None]
    return np.take(DECODE_TABLE, index)


def encode(pcm: npt.NDArray[np.int16], codec: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Encode a (legs, samples) int16 matrix; ``codec`` holds one law per row."""
    index = pcm.view(np.uint16).astype(np.intp) + (codec.astype(np.intp) << 16)[:, None]
    return np.take(ENCODE_TABLE, index)


def decode_bytes(payload: bytes, codec: int) -> npt.NDArray[np.int16]:
    """Decode one payload (tests, prompts, recordings checks)."""
    codes = np.frombuffer(payload, dtype=np.uint8)
    return np.take(DECODE_TABLE, codes.astype(np.intp) + (codec << 8))


def encode_samples(pcm: npt.NDArray[np.int16], codec: int) -> bytes:
    """Encode one int16 vector to payload bytes."""
    index = np.asarray(pcm, dtype=np.int16).view(np.uint16).astype(np.intp) + (codec << 16)
    return bytes(np.take(ENCODE_TABLE, index).tobytes())
