"""G.711 tables against a scalar reference written from the standard's segment rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from jietong.telephony.media import g711


def ref_ulaw_encode(x: int) -> int:
    """Scalar mu-law: bias 132, find the segment by shifting, complement the code."""
    sign = 0x80 if x < 0 else 0
    magnitude = -x - 1 if x < 0 else x  # one's complement fold, as ITU-T G.191
    magnitude = min(magnitude, 32635) + 132
    segment = 0
    while segment < 7 and magnitude >= (256 << segment):
        segment += 1
    mantissa = (magnitude >> (segment + 3)) & 0x0F
    return ~(sign | (segment << 4) | mantissa) & 0xFF


def ref_ulaw_decode(code: int) -> int:
    u = ~code & 0xFF
    segment, mantissa = (u >> 4) & 7, u & 0x0F
    magnitude = ((2 * mantissa + 33) << (segment + 2)) - 132
    return -magnitude if u & 0x80 else magnitude


def ref_alaw_encode(x: int) -> int:
    positive = x >= 0
    magnitude = (x if positive else -x - 1) >> 4  # 12-bit magnitude
    if magnitude < 32:
        segment, mantissa = (1, magnitude - 16) if magnitude >= 16 else (0, magnitude)
    else:
        segment = magnitude.bit_length() - 4
        mantissa = (magnitude >> (segment - 1)) & 0x0F
    code = (0x80 if positive else 0) | (segment << 4) | mantissa
    return code ^ 0x55


def ref_alaw_decode(code: int) -> int:
    a = code ^ 0x55
    segment, mantissa = (a >> 4) & 7, a & 0x0F
    magnitude = (2 * mantissa + 1) << 3 if segment == 0 else (2 * mantissa + 33) << (segment + 2)
    return magnitude if a & 0x80 else -magnitude


SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


@pytest.mark.parametrize(
    ("codec", "encode", "decode"),
    [(g711.PCMU, ref_ulaw_encode, ref_ulaw_decode), (g711.PCMA, ref_alaw_encode, ref_alaw_decode)],
)
def test_tables_match_the_scalar_reference_everywhere(codec, encode, decode):
    expected_codes = np.array([encode(int(x)) for x in SAMPLES], dtype=np.uint8)
    codes = np.frombuffer(g711.encode_samples(SAMPLES, codec), dtype=np.uint8)
    assert np.array_equal(codes, expected_codes)

    expected_pcm = np.array([decode(code) for code in range(256)], dtype=np.int16)
    assert np.array_equal(g711.decode_bytes(bytes(range(256)), codec), expected_pcm)


def test_known_points():
    assert g711.encode_samples(np.zeros(1, np.int16), g711.PCMU) == b"\xff"
    assert g711.encode_samples(np.zeros(1, np.int16), g711.PCMA) == b"\xd5"
    ulaw = g711.decode_bytes(bytes([0x00, 0x80, 0xFF, 0x7F]), g711.PCMU)
    assert ulaw.tolist() == [-32124, 32124, 0, 0]
    alaw = g711.decode_bytes(bytes([0xD5, 0x55, 0xAA, 0x2A]), g711.PCMA)
    assert alaw.tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("codec", [g711.PCMU, g711.PCMA])
def test_every_code_survives_decode_then_encode(codec):
    pcm = g711.decode_bytes(bytes(range(256)), codec)
    back = np.frombuffer(g711.encode_samples(pcm, codec), dtype=np.uint8)
    mismatched = set(np.flatnonzero(back != np.arange(256)).tolist())
    # mu-law has two zeros (0x7F is "-0"); both decode to 0, which encodes as 0xFF.
    assert mismatched == ({0x7F} if codec == g711.PCMU else set())


@pytest.mark.parametrize("codec", [g711.PCMU, g711.PCMA])
def test_quantisation_error_is_within_half_a_step_plus_one(codec):
    codes = np.frombuffer(g711.encode_samples(SAMPLES, codec), dtype=np.uint8)
    back = g711.decode_bytes(codes.tobytes(), codec).astype(np.int32)
    error = np.abs(back - SAMPLES.astype(np.int32))
    inside = np.abs(SAMPLES.astype(np.int32)) < 31000  # beyond, the laws clip
    # the largest step (segment 7) is 1024 (mu) / 1024 (A): error <= step / 2 + rounding
    assert error[inside].max() <= 520


def test_matrix_form_equals_row_by_row_with_mixed_codecs():
    rng = np.random.default_rng(7)
    pcm = rng.integers(-32768, 32768, size=(6, 160)).astype(np.int16)
    codec = np.array([0, 1, 1, 0, 1, 0], dtype=np.uint8)
    codes = g711.encode(pcm, codec)
    for row in range(6):
        assert codes[row].tobytes() == g711.encode_samples(pcm[row], int(codec[row]))
    decoded = g711.decode(codes, codec)
    for row in range(6):
        assert np.array_equal(
            decoded[row], g711.decode_bytes(codes[row].tobytes(), int(codec[row]))
        )


def test_decoding_agrees_with_the_standard_library_where_available():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    codes = bytes(range(256))
    ulaw = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    alaw = np.frombuffer(audioop.alaw2lin(codes, 2), dtype=np.int16)
    assert np.array_equal(g711.decode_bytes(codes, g711.PCMU), ulaw)
    assert np.array_equal(g711.decode_bytes(codes, g711.PCMA), alaw)
