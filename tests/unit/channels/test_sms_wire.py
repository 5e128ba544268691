"""SMS wire formats from recorded payloads; Twilio signatures checked against the twilio
package's own RequestValidator; segment counting properties."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.channels.errors import BadSignature
from jietong.channels.signing import signature_header, verify_signature
from jietong.channels.sms import wire
from jietong.core.errors import InvalidInput

FIXTURES = Path(__file__).parents[2] / "channels" / "sms" / "fixtures"
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ORIGIN = wire.Origin(org_id="o" * 32, account_id="a" * 32, queue_id=None, received_at=NOW)
URL = "https://cc.example.cn/api/v1/channels/sms/" + "a" * 32 + "/twilio"
TOKEN = "12345678901234567890123456789012"


def form(name: str) -> list[tuple[str, str]]:
    return parse_qsl((FIXTURES / name).read_text(), keep_blank_values=True)


def test_twilio_signature_matches_twilios_own_validator() -> None:
    validator = pytest.importorskip("twilio.request_validator").RequestValidator(TOKEN)
    params = form("twilio_inbound.form")

    ours = wire.twilio_signature(TOKEN, URL, params)

    assert ours == validator.compute_signature(URL, dict(params))
    assert validator.validate(URL, dict(params), ours)


def test_signature_made_by_twilios_validator_is_accepted_with_or_without_port() -> None:
    validator = pytest.importorskip("twilio.request_validator").RequestValidator(TOKEN)
    params = form("twilio_inbound.form")
    with_port = URL.replace("cc.example.cn", "cc.example.cn:443")

    wire.verify_twilio(TOKEN, URL, params, validator.compute_signature(with_port, dict(params)))
    wire.verify_twilio(TOKEN, with_port, params, validator.compute_signature(URL, dict(params)))


def test_sha256_shared_key_signatures_match_twilios_validator() -> None:
    module = pytest.importorskip("twilio.request_validator")
    params = form("twilio_inbound.form")
    expected = module.RequestValidator("shared-key-123").compute_signature(
        URL, dict(params), "HMAC_SHA256"
    )
    header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"

    algorithm = wire.signature_algorithm(header)

    assert algorithm == "HMAC_SHA256"
    wire.verify_twilio("shared-key-123", URL, params, expected, algorithm)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: [(k, v + "!" if k == "Body" else v) for k, v in p],
        lambda p: [*p, ("Extra", "1")],
        lambda p: p[1:],
    ],
)
def test_any_change_to_the_parameters_breaks_the_signature(tamper) -> None:  # type: ignore[no-untyped-def]
    params = form("twilio_inbound.form")
    signature = wire.twilio_signature(TOKEN, URL, params)

    with pytest.raises(BadSignature):
        wire.verify_twilio(TOKEN, URL, tamper(params), signature)
    with pytest.raises(BadSignature):
        wire.verify_twilio("another-token-123", URL, params, signature)
    with pytest.raises(BadSignature):
        wire.verify_twilio(TOKEN, URL + "?x=1", params, signature)
    with pytest.raises(BadSignature):
        wire.verify_twilio(TOKEN, URL, params, None)


def test_twilio_inbound_is_parsed_from_the_recorded_payload() -> None:
    message = wire.parse_twilio_inbound(form("twilio_inbound.form"), ORIGIN, b"raw")

    assert message.external_id == "SM5d1b2c3a4e5f60718293a4b5c6d7e8f9"
    assert message.sender.address == "+8613800138000"
    assert message.recipient == "+8610690012345"
    assert message.text.startswith("你好，我的订单还没到 (order #12345)")
    assert "[media] https://api.twilio.com/" in message.text
    assert message.metadata["media_type_0"] == "image/jpeg"
    assert message.thread_key == "+8610690012345|+8613800138000"
    assert message.account_id == ORIGIN.account_id and message.raw == b"raw"


@pytest.mark.parametrize(
    "params",
    [
        [("From", "+8613800138000"), ("To", "+861069")],
        [("MessageSid", "SM1"), ("To", "+861069")],
        [("MessageSid", "SM1"), ("From", "+86138"), ("To", "+86"), ("NumMedia", "x")],
        [("MessageSid", "SM1"), ("From", "+86138"), ("To", "+86"), ("NumMedia", "99")],
        [("MessageSid", "SM1"), ("From", "+86138"), ("To", "+86"), ("Body", "a\x00b")],
    ],
)
def test_malformed_twilio_webhooks_are_refused(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        wire.parse_twilio_inbound(params, ORIGIN)


def test_twilio_status_callback_is_parsed() -> None:
    status = wire.parse_twilio_status(form("twilio_status_undelivered.form"))

    assert status.provider_message_id == "SMaaaabbbbccccddddeeeeffff00001111"
    assert status.delivered is False and status.error == "Twilio error 30003"
    with pytest.raises(InvalidInput):
        wire.parse_twilio_status([("MessageSid", "SM1"), ("MessageStatus", "exploded")])


def test_generic_inbound_and_status_are_parsed() -> None:
    body = (FIXTURES / "generic_inbound.json").read_bytes()
    message = wire.parse_generic_inbound(body, ORIGIN)
    status = wire.parse_generic_status((FIXTURES / "generic_status_delivered.json").read_bytes())

    assert message.external_id == "gw-20250303-000017" and message.raw == body
    assert message.sender.address == "+8613900139000" and "账单" in message.text
    assert status.delivered is True and status.provider_message_id == "gw-out-77"


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"id": 1}', b'{"id": "x", "from": "", "to": "y"}', b"\xff"]
)
def test_malformed_generic_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        wire.parse_generic_inbound(body, ORIGIN)


def test_jietong_signatures_verify_and_refuse_replays() -> None:
    body = b'{"id":"1"}'
    header = signature_header("s3cret-value", int(NOW.timestamp()), body)

    verify_signature("s3cret-value", body, header, now=NOW, max_age_seconds=300)
    for bad in (header.replace("v1=", "v1=0"), None, "t=abc,v1=00", header + "0"):
        with pytest.raises(BadSignature):
            verify_signature("s3cret-value", body, bad, now=NOW, max_age_seconds=300)
    with pytest.raises(BadSignature):
        verify_signature("s3cret-value", body + b" ", header, now=NOW, max_age_seconds=300)
    later = datetime.fromtimestamp(NOW.timestamp() + 301, UTC)
    with pytest.raises(BadSignature, match="replay"):
        verify_signature("s3cret-value", body, header, now=later, max_age_seconds=300)


def test_generic_outbound_carries_the_idempotency_key() -> None:
    payload = json.loads(wire.generic_outbound("d" * 32, "+861069", "+86138", "你好", NOW))

    assert payload["idempotency_key"] == "d" * 32 and payload["segments"] == 1


# -- segments ---------------------------------------------------------------------------

GSM_BASIC = sorted(wire.GSM_BASIC)
GSM_EXT = sorted(wire.GSM_EXTENSION)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # the escape pair moves whole
        ("你" * 70, "UCS-2", 70, 1),
        ("你" * 71, "UCS-2", 71, 2),
        ("你" * 134, "UCS-2", 134, 2),
        ("你" * 135, "UCS-2", 135, 3),
        ("a" * 159 + "😀", "UCS-2", 161, 3),
        ("ç", "UCS-2", 1, 1),  # lower-case c-cedilla is not in GSM 03.38
    ],
)
def test_segments_of_known_texts(text: str, encoding: str, units: int, segments: int) -> None:
    assert wire.count_segments(text) == wire.SegmentCount(encoding, units, segments)


@given(st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXT), max_size=1200))
def test_gsm_text_uses_160_or_153_septet_segments(text: str) -> None:
    count = wire.count_segments(text)
    septets = sum(2 if c in wire.GSM_EXTENSION else 1 for c in text)
    assert count.encoding == "GSM-7" and count.units == septets
    if septets <= 160:
        assert count.segments == 1
    else:
        # At least ceil(n/153); an escape pair never split costs at most one septet a part.
        assert math.ceil(septets / 153) <= count.segments <= math.ceil(septets / 152)


@given(
    st.text(min_size=1, max_size=600).filter(
        lambda t: any(c not in wire.GSM_BASIC and c not in wire.GSM_EXTENSION for c in t)
    )
)
def test_any_non_gsm_character_means_ucs2_with_70_or_67_unit_segments(text: str) -> None:
    count = wire.count_segments(text)
    units = len(text.encode("utf-16-le")) // 2
    assert count.encoding == "UCS-2" and count.units == units
    if units <= 70:
        assert count.segments == 1
    else:
        assert math.ceil(units / 67) <= count.segments <= math.ceil(units / 66)


@given(st.text(max_size=400), st.text(max_size=400))
def test_appending_text_never_needs_fewer_segments(head: str, tail: str) -> None:
    before = wire.count_segments(head)
    after = wire.count_segments(head + tail)
    if before.encoding == after.encoding:
        assert after.segments >= before.segments
