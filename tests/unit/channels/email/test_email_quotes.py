"""Quoted history and signatures are separated from the new text."""

from __future__ import annotations

import pytest

from jietong.channels.email.quotes import split_reply

CASES = [
    (
        "Hi,\nmy order is late.\n\nOn Mon, 4 Mar 2024 at 10:02, Support <s@x.cn>\nwrote:\n> hi",
        "Hi,\nmy order is late.",
        "On Mon",
    ),
    ("谢谢\n\n王芳 <w@x.cn> 于2024年3月4日周一 10:02写道：\n> 你好", "谢谢", "王芳"),
    (
        "好的。\n\n在 2024年3月4日，10:02，客服 <s@x.cn> 写道：\n\n> 请提供订单号",
        "好的。",
        "在 2024",
    ),
    ("See below\n\n-----Original Message-----\nFrom: A\nSent: today", "See below", "-----"),
    ("收到\n\n----- 原始邮件 -----\n发件人: x", "收到", "-----"),
    (
        '收到\n\n------------------ 原始邮件 ------------------\n发件人: "客服"<s@x.cn>;\n'
        '发送时间: 2024年3月4日\n收件人: "我"<me@qq.com>;\n主题: 回复',
        "收到",
        "------------------ 原始邮件",
    ),
    (
        "OK\n\n------------------ Original ------------------\nFrom: x\nDate: y\nTo: z",
        "OK",
        "------------------ Original",
    ),
    (
        "New text\n________________________________\nFrom: Support <s@x.cn>\nSent: Monday\n"
        "To: me\nSubject: Re: x",
        "New text",
        "_____",
    ),
    (
        "新内容\n\n发件人: 客服 <s@x.cn>\n发送时间: 2024年3月4日 9:12\n收件人: 我\n主题: 回复",
        "新内容",
        "发件人",
    ),
    ("Reply\n\n---- Replied Message ----\n| From | x |", "Reply", "----"),
    ("text\n-- \nJohn Smith\nACME", "text", "-- "),
    ("ok\n\n发自我的iPhone", "ok", "发自我的iPhone"),
    ("ok\n\nSent from my iPhone", "ok", "Sent from"),
    ("ok\n\n发自网易邮箱大师", "ok", "发自网易邮箱大师"),
    ("answer\n\n> quoted\n> more\n", "answer", "> quoted"),
]


@pytest.mark.parametrize(("body", "text", "quoted_start"), CASES)
def test_quote_headers_in_english_and_chinese(body: str, text: str, quoted_start: str) -> None:
    split = split_reply(body)
    assert split.text == text
    assert split.quoted is not None and split.quoted.startswith(quoted_start)


@pytest.mark.parametrize(
    "body",
    [
        "正如我在上封邮件中写道：\n订单号是 123",  # a sentence, not an attribution line
        "From: my boss I heard that the router is broken.\nPlease help.",  # no header block
        "On time delivery matters to us.\nWe wrote: nothing.",
        "Line one\n________________________________\nnot a header block",
        "> a quote first\nthen my answer below it",  # inline answer: keep everything
    ],
)
def test_ordinary_text_is_not_cut(body: str) -> None:
    split = split_reply(body)
    assert split.quoted is None
    assert split.text == body.strip()


def test_a_body_that_is_all_quotation_stays_visible() -> None:
    assert split_reply("> only a quote\n> more") == split_reply("> only a quote\n> more")
    assert split_reply("> only a quote\n> more").text == "> only a quote\n> more"


def test_crlf_bodies_are_split_the_same() -> None:
    split = split_reply("Thanks\r\n\r\n-----Original Message-----\r\nFrom: a\r\n")
    assert split.text == "Thanks"
