"""WeChat push protocol from recorded payloads: signatures, XML messages and events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jietong.channels.errors import BadSignature
from jietong.channels.wechat import wire
from jietong.channels.wechat.media import media_kind
from jietong.core.errors import InvalidInput

FIXTURES = Path(__file__).parents[2] / "channels" / "wechat" / "fixtures"
NOW = datetime.fromtimestamp(1741000100, UTC)
ORIGIN = wire.PushOrigin(org_id="o" * 32, account_id="a" * 32, queue_id=None, received_at=NOW)


def test_signature_is_sha1_of_the_sorted_values() -> None:
    by_hand = hashlib.sha1(b"".join(sorted([b"tok3n", b"1741000100", b"n0nce"]))).hexdigest()

    assert wire.push_signature("tok3n", "1741000100", "n0nce") == by_hand
    wire.verify_push("tok3n", by_hand, "1741000100", "n0nce", now=NOW, max_age_seconds=300)


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce"),
    [
        ("other", "1741000100", "n0nce"),
        ("tok3n", "1741000101", "n0nce"),
        ("tok3n", "1741000100", "x"),
    ],
)
def test_signature_of_other_values_is_refused(token: str, timestamp: str, nonce: str) -> None:
    good = wire.push_signature("tok3n", "1741000100", "n0nce")
    with pytest.raises(BadSignature):
        wire.verify_push(token, good, timestamp, nonce, now=NOW, max_age_seconds=300)


def test_replayed_push_with_an_old_timestamp_is_refused() -> None:
    old = "1740990000"
    signature = wire.push_signature("tok3n", old, "n")
    with pytest.raises(BadSignature, match="replay"):
        wire.verify_push("tok3n", signature, old, "n", now=NOW, max_age_seconds=300)
    with pytest.raises(BadSignature):
        wire.verify_push("tok3n", None, None, None, now=NOW, max_age_seconds=300)


def test_text_message_is_parsed() -> None:
    message = wire.parse_push((FIXTURES / "text.xml").read_bytes(), ORIGIN)

    assert message.external_id == "24988123456789012"
    assert message.sender.address == "oABCD1234efgh5678ijkl90mnop"
    assert message.text == "你好，我想查询订单 <b>12345</b>"
    assert message.recipient == "gh_1a2b3c4d5e6f" and not message.auto_generated


def test_image_message_keeps_the_picture_reference() -> None:
    message = wire.parse_push((FIXTURES / "image.xml").read_bytes(), ORIGIN)

    assert message.text == "[image]" and message.external_id == "24988123456789013"
    assert message.metadata["pic_url"].startswith("http://mmbiz.qpic.cn/")
    assert message.metadata["media_id"] == "media_id_abc_123"


def test_subscribe_event_is_stored_as_automatic_and_deduped_by_sender_and_time() -> None:
    message = wire.parse_push((FIXTURES / "subscribe.xml").read_bytes(), ORIGIN)

    assert message.auto_generated and message.text == "[subscribe]"
    assert message.external_id == "event:oABCD1234efgh5678ijkl90mnop:1741000120:subscribe"


@pytest.mark.parametrize(
    "body",
    [
        (FIXTURES / "entity_bomb.xml").read_bytes(),
        b"<xml><ToUserName>gh</ToUserName>",
        b"<notxml/>",
        b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName></xml>",
        wire.xml_push(
            {"ToUserName": "gh", "FromUserName": "o1", "CreateTime": "1", "MsgType": "text"}
        ),
        wire.xml_push(
            {
                "ToUserName": "gh",
                "FromUserName": "o1",
                "CreateTime": "x",
                "MsgType": "text",
                "MsgId": "1",
            }
        ),
        wire.xml_push(
            {
                "ToUserName": "gh",
                "FromUserName": "o1",
                "CreateTime": "1",
                "MsgType": "weird",
                "MsgId": "1",
            }
        ),
        b"\xff\xfe",
    ],
)
def test_malformed_pushes_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        wire.parse_push(body, ORIGIN)


def test_api_answers_are_read() -> None:
    ok = wire.parse_api_answer((FIXTURES / "token_ok.json").read_bytes())
    late = wire.parse_api_answer((FIXTURES / "custom_send_45015.json").read_bytes())

    assert ok.errcode == 0 and ok.access_token == "ACCESS_TOKEN_1" and ok.expires_in == 7200
    assert late.errcode == 45015 and late.errcode in wire.PERMANENT_CODES
    assert wire.parse_api_answer(b"<html>").errcode == -1


def test_a_media_answer_is_the_file_or_wechat_s_json_error() -> None:
    image = wire.parse_media_answer(
        "image/jpeg", 'attachment; filename="MEDIA_ID.jpg"', b"\xff\xd8\xff\xe0jpeg"
    )
    error = wire.parse_media_answer(
        "text/plain", None, b'{"errcode":40007,"errmsg":"invalid media_id"}'
    )
    # A follower's JSON file is a file: WeChat names it in Content-disposition.
    json_file = wire.parse_media_answer(
        "application/octet-stream", "attachment; filename=data.json", b'{"errcode":1}'
    )

    assert image == wire.MediaFile(b"\xff\xd8\xff\xe0jpeg", "image/jpeg", "MEDIA_ID.jpg")
    assert isinstance(error, wire.ApiAnswer) and error.errcode == 40007
    assert isinstance(json_file, wire.MediaFile) and json_file.filename == "data.json"
    assert isinstance(wire.parse_media_answer("image/jpeg", None, b""), wire.ApiAnswer)


def test_media_pushes_say_their_kind_for_the_fetcher() -> None:
    assert media_kind({"msg_type": "voice", "media_id": "m"}) == "voice"
    assert media_kind({"pic_url": "http://x", "media_id": "m"}) == "image"  # before msg_type
    assert media_kind({"msg_type": "location"}) is None
