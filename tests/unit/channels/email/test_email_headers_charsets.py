"""Charset labels as senders misuse them, RFC 2047 encoded words, addresses, ids."""

from __future__ import annotations

from email.header import Header

from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.channels.email.charsets import codec_for, decode_text
from jietong.channels.email.headers import (
    decode_header_value,
    parse_addresses,
    parse_message_ids,
    single_line,
)

# Common Chinese characters (CJK Unified Ideographs), punctuation and ASCII.
CHINESE = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
        st.sampled_from(list("，。！？：；“”（）《》 abcXYZ0123456789-_")),
    ),
    min_size=1,
    max_size=60,
)


def test_gb2312_and_gbk_labels_decode_as_gb18030() -> None:
    text = "朱镕基 王喆 张珺"  # 镕, 喆 and 珺 are not in GB2312
    data = text.encode("gbk")
    for label in ("gb2312", "GB2312", '"gb2312"', "gbk", "x-gbk", "cp936", "euc-cn"):
        assert decode_text(data, label) == text
    assert codec_for("GB2312") == "gb18030"


def test_big5_label_accepts_hkscs_characters() -> None:
    text = "香港 綫 嘅"  # 嘅 is an HKSCS character
    assert decode_text(text.encode("big5hkscs"), "big5") == text


def test_a_wrong_label_is_recovered_by_guessing() -> None:
    # GBK that happens to be valid UTF-8 stays GBK when labelled so.
    assert decode_text("丝丝为".encode("gbk"), "gb2312") == "丝丝为"
    assert decode_text("你好".encode("gbk"), "utf-8") == "你好"  # GBK labelled UTF-8
    assert decode_text("你好".encode("gbk"), "no-such-charset") == "你好"
    assert decode_text("café".encode("cp1252"), "us-ascii") == "café"


def test_undecodable_bytes_never_raise() -> None:
    assert isinstance(decode_text(bytes(range(256)), "utf-8"), str)


@settings(max_examples=150, deadline=None)
@given(subject=CHINESE, charset=st.sampled_from(["utf-8", "gb18030", "gbk", "big5"]))
def test_rfc2047_round_trip_of_chinese_subjects(subject: str, charset: str) -> None:
    try:
        subject.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"  # characters this charset cannot hold: senders use UTF-8
    encoded = Header(subject, charset=charset).encode()
    assert encoded.isascii()
    assert decode_header_value(encoded) == subject.strip()


@settings(max_examples=100, deadline=None)
@given(subject=CHINESE)
def test_encoded_words_split_inside_a_character_still_decode(subject: str) -> None:
    """Mailers cut base64 words at byte boundaries that split a multi-byte character."""
    import base64

    data = subject.encode("gbk", errors="ignore") or b"a"
    half = max(1, len(data) // 2)
    words = [data[:half], data[half:]] if len(data) > 1 else [data]
    value = " ".join(f"=?gbk?B?{base64.b64encode(w).decode()}?=" for w in words)
    assert decode_header_value(value) == data.decode("gbk").strip()


def test_decoded_header_cannot_carry_line_breaks() -> None:
    # "a\r\nBcc: x@y.com" hidden in an encoded word
    assert decode_header_value("=?utf-8?B?YQ0KQmNjOiB4QHkuY29t?=") == "a Bcc: x@y.com"


def test_addresses_with_encoded_names_commas_and_groups() -> None:
    found = parse_addresses(
        '=?utf-8?B?5byg5LiJ?= <z@x.cn>, "Li, Si" <li@y.cn>, undisclosed-recipients:;'
    )
    assert [(a.name, a.address) for a in found] == [("张三", "z@x.cn"), ("Li, Si", "li@y.cn")]
    assert parse_addresses("no address here") == ()


def test_message_ids_in_order_without_duplicates_and_bounded() -> None:
    assert parse_message_ids("<a@b>\r\n <c@d> <a@b>") == ("a@b", "c@d")
    assert parse_message_ids("bare@id.example") == ("bare@id.example",)
    many = " ".join(f"<m{i}@x>" for i in range(100))
    ids = parse_message_ids(many)
    assert len(ids) == 40 and ids[0] == "m0@x" and ids[-1] == "m99@x"


def test_single_line_removes_every_kind_of_line_break() -> None:
    assert single_line("a\r\nb\nc\rd\u2028e\x00f") == "a b c d e f"
