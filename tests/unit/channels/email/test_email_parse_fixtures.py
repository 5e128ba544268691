"""Parsing recorded real-world mail (tests/channels/email/fixtures): charsets, MIME
structure, attachments, quotes, loop signals. Each assertion names what a broken
parser would get wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from jietong.channels.email.inbound import external_id
from jietong.channels.email.parse import MalformedEmail, ParsedEmail, parse_email
from jietong.channels.email.quotes import split_reply
from jietong.channels.email.sanitize import sanitise_html

FIXTURES = Path(__file__).parents[3] / "channels" / "email" / "fixtures"
OUR_BOUNCED_ID = (
    "jt.aghbukz4jv7f7cu3bqos4p2klm.aghbukz4jv7f7cu3bqos4p2klq.nasjarypfpotpawy@demo.jietong.example"
)


def parsed(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def test_gmail_multipart_alternative_prefers_plain_and_splits_the_quote() -> None:
    mail = parsed("gmail_alternative_reply.eml")
    assert mail.sender.address == "emily@example.com"
    assert mail.sender.name == "Emily Chen"
    assert mail.subject == "Re: Router does not power on"
    assert mail.message_id == "CAF7kQ3yZ8n1+eH0T@mail.gmail.com"
    assert mail.references[0] == "CAF7kQ3xk2Lw0b9mZs@mail.gmail.com"
    assert mail.in_reply_to[0].startswith("jt.")
    assert mail.html is not None and "gmail_quote" in mail.html
    split = split_reply(mail.text)
    assert split.text.startswith("Hi,") and split.text.endswith("Emily")
    assert "different power socket" not in split.text
    assert split.quoted is not None and "different power socket" in split.quoted
    assert mail.auto_reason is None and mail.attachments == ()


def test_gb2312_label_decodes_gbk_only_characters_in_body_and_headers() -> None:
    mail = parsed("outlook_gb2312_label_gbk_chars.eml")
    # 镕 and 喆 are in GBK but not in GB2312: a strict gb2312 decode loses them.
    assert mail.sender.name == "王喆"
    assert mail.subject == "回复: 宽带无法连接（朱镕基路）"
    split = split_reply(mail.text)
    assert "朱镕基路营业厅的王喆" in split.text
    assert "\ufffd" not in mail.text
    assert split.quoted is not None and split.quoted.startswith("-----原始邮件-----")
    assert "请提供您的宽带账号" not in split.text


def test_qq_mail_html_only_gb18030_derives_text_and_sanitises() -> None:
    mail = parsed("qqmail_html_only_gb18030.eml")
    assert mail.sender.name == "王芳" and mail.subject == "回复：开发票"
    split = split_reply(mail.text)
    assert "华信科技有限公司" in split.text
    assert "𠀾" in split.text  # a 4-byte GB18030 character (CJK Extension B)
    assert split.quoted is not None and "原始邮件" in split.quoted
    assert "发票已开具" in split.quoted and "发票已开具" not in split.text
    assert mail.html is not None
    clean = sanitise_html(mail.html)
    assert "<script" not in clean.html and "javascript:" not in clean.html
    assert "onclick" not in clean.html and "track.example.net" not in clean.html
    assert clean.remote_images_blocked == 1


def test_big5_body_and_header_with_traditional_quote_header() -> None:
    mail = parsed("foxmail_big5.eml")
    assert mail.sender.name == "陳大文" and mail.subject == "查詢訂單"
    split = split_reply(mail.text)
    assert "訂單 TW-2024-0315 還沒有收到" in split.text
    assert split.quoted is not None and split.quoted.startswith("在 2024年3月14日")


def test_attachments_inline_images_and_hostile_file_names() -> None:
    mail = parsed("attachments_inline_cid.eml")
    assert mail.subject == "发票问题 (invoice)"
    assert split_reply(mail.text).text == "请看截图和发票。\n\n王芳"
    names = [a.filename for a in mail.attachments]
    assert names == ["screenshot.png", "发票.pdf", "invoicefdp.exe", "passwd"]
    image = mail.attachments[0]
    assert image.inline and image.content_id == "screenshot.1@example.cn"
    assert image.data.startswith(b"\x89PNG")
    assert mail.attachments[1].data.startswith(b"%PDF")
    assert not any("\u202e" in n or "/" in n or n.startswith(".") for n in names)
    assert mail.html is not None
    assert 'src="cid:screenshot.1@example.cn"' in sanitise_html(mail.html).html


def test_delivery_status_notification_names_our_message() -> None:
    mail = parsed("dsn_bounce_postfix.eml")
    assert mail.auto_reason is not None
    assert mail.report is not None and mail.report.failed
    assert mail.report.original_message_id == OUR_BOUNCED_ID
    [recipient] = mail.report.recipients
    assert (recipient.recipient, recipient.action, recipient.status) == (
        "nobody@example.org",
        "failed",
        "5.1.1",
    )
    assert "User unknown" in (recipient.diagnostic or "")


def test_dsn_is_recognised_without_auto_submitted_header() -> None:
    raw = (FIXTURES / "dsn_bounce_postfix.eml").read_bytes()
    stripped = raw.replace(b"Auto-Submitted: auto-replied\r\n", b"")
    stripped = stripped.replace(b"Return-Path: <>\r\n", b"")
    assert parse_email(stripped).auto_reason == "report: delivery-status"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply_outlook_oof.eml", "auto-submitted: auto-replied"),
        ("precedence_bulk.eml", "precedence: bulk"),
        ("x_autoreply_netease.eml", "x-autoreply: yes"),
    ],
)
def test_automatic_mail_is_flagged(name: str, reason: str) -> None:
    assert parsed(name).auto_reason == reason


@pytest.mark.parametrize(
    "name",
    [
        "gmail_alternative_reply.eml",
        "outlook_gb2312_label_gbk_chars.eml",
        "qqmail_html_only_gb18030.eml",
        "foxmail_big5.eml",
        "apple_mail_flowed_zh.eml",
        "gmail_zh_reply.eml",
        "raw_8bit_gbk_headers.eml",
    ],
)
def test_mail_written_by_people_is_not_flagged(name: str) -> None:
    assert parsed(name).auto_reason is None


def test_flowed_text_is_rejoined_and_the_mobile_signature_cut() -> None:
    mail = parsed("apple_mail_flowed_zh.eml")
    split = split_reply(mail.text)
    assert "很长 很长，被客户端折行了。" in split.text  # soft break undone
    assert "发自我的iPhone" not in split.text
    assert split.quoted is not None and "请问您哪天方便" in split.quoted


def test_gmail_chinese_attribution_line() -> None:
    mail = parsed("gmail_zh_reply.eml")
    split = split_reply(mail.text)
    assert split.text == "退款还没到账，已经过了七个工作日。"
    assert mail.references == ("CA+refund-0001@example.cn", "CA+refund-0003@demo.jietong.example")


def test_raw_8bit_gbk_headers_are_decoded() -> None:
    mail = parsed("raw_8bit_gbk_headers.eml")
    assert mail.sender.name == "张三"
    assert mail.subject == "咨询：会员积分怎么兑换？"
    assert mail.to[0].name == "客服"
    assert mail.text == "请问会员积分怎么兑换？我有 3200 分。"


def test_a_mail_without_any_sender_is_malformed() -> None:
    with pytest.raises(MalformedEmail):
        parsed("malformed_no_sender.eml")


def test_the_envelope_sender_stands_in_for_a_missing_from() -> None:
    raw = (FIXTURES / "malformed_no_sender.eml").read_bytes()
    mail = parse_email(raw, envelope_sender="someone@example.org")
    assert mail.sender.address == "someone@example.org"
    assert external_id(mail) == f"sha256:{mail.sha256}"  # no Message-ID: digest of bytes


def test_a_multipart_without_boundary_keeps_its_text() -> None:
    mail = parsed("malformed_mime_recoverable.eml")
    assert "the text is all there is" in mail.text
    assert mail.defects > 0


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\r\n\r\njust a body"])
def test_empty_or_headerless_input_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEmail):
        parse_email(raw)


def test_every_fixture_parses_or_is_refused_cleanly() -> None:
    count = 0
    for path in sorted(FIXTURES.glob("*.eml")):
        try:
            parse_email(path.read_bytes())
        except MalformedEmail:
            assert path.name.startswith("malformed_")
        count += 1
    assert count >= 14
