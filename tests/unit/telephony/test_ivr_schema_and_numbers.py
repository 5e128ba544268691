"""Flow validation messages, and numbers spoken in Chinese and English (hypothesis:
the Chinese words read back to the number; the English words carry no digits)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from jietong.telephony.ivr.demo import demo_flow
from jietong.telephony.ivr.prompts import en_number, position_announcement, zh_number
from jietong.telephony.ivr.schema import Flow

_ZH_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}


def read_zh(text: str) -> int:
    """Chinese numerals back to a number (the reading a listener makes)."""
    total = section = digit = 0
    for ch in text:
        if ch in _ZH_DIGIT:
            digit = _ZH_DIGIT[ch]
        elif ch in _ZH_UNIT:
            section += (digit or 1) * _ZH_UNIT[ch]
            digit = 0
        elif ch == "万":
            total += (section + digit) * 10_000
            section = digit = 0
        else:
            raise ValueError(ch)
    return total + section + digit


@given(st.integers(min_value=0, max_value=99_999_999))
def test_chinese_numbers_read_back(n: int) -> None:
    assert read_zh(zh_number(n)) == n
    assert read_zh(zh_number(n, counting=True)) == n


@given(st.integers(min_value=0, max_value=999_999_999))
def test_english_numbers_are_words(n: int) -> None:
    words = en_number(n)
    assert re.fullmatch(r"[a-z]+([ -][a-z]+)*", words), words


@pytest.mark.parametrize(
    ("n", "zh", "en"),
    [
        (0, "零", "zero"),
        (2, "二", "two"),
        (10, "十", "ten"),
        (12, "十二", "twelve"),
        (20, "二十", "twenty"),
        (105, "一百零五", "one hundred and five"),
        (110, "一百一十", "one hundred and ten"),
        (2003, "两千零三", "two thousand and three"),
        (10_500, "一万零五百", "ten thousand five hundred"),
        (1_000_021, "一百万零二十一", "one million and twenty-one"),
    ],
)
def test_numbers_in_words(n: int, zh: str, en: str) -> None:
    assert zh_number(n) == zh and en_number(n) == en


def test_queue_announcements() -> None:
    assert position_announcement(4, 110, "zh-CN") == "您前面还有三位客户，预计等待两分钟。"
    assert position_announcement(3, 60, "zh-CN") == "您前面还有两位客户，预计等待一分钟。"
    assert position_announcement(1, None, "zh-CN") == "您是下一位。"
    assert (
        position_announcement(3, 120, "en")
        == "You are number three in the queue; estimated wait two minutes."
    )
    assert position_announcement(1, 30, "en") == (
        "You are number one in the queue; estimated wait one minute."
    )


def _nodes(**nodes: object) -> dict[str, object]:
    return {"start": "a", "nodes": nodes}


P = {"text": {"zh-CN": "x", "en": "x"}}


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        ({"start": "zz", "nodes": {"a": {"type": "hangup"}}}, "start node 'zz' does not exist"),
        (
            _nodes(a={"type": "play", "prompt": P, "next": "b"}),
            "node 'a': next goes to unknown node 'b'",
        ),
        (
            _nodes(a={"type": "play", "prompt": {"text": {"en": "hi"}}, "next": "a"}),
            "node 'a': prompt has no prompt for zh-CN",
        ),
        (
            _nodes(
                a={"type": "hours", "open": "b", "closed": "c"},
                b={"type": "lookup", "url": "http://x/", "next": "a", "on_failure": "c"},
                c={"type": "hangup"},
            ),
            "loop with no wait: a -> b -> a",
        ),
        (
            {"start": "a", "languages": ["zh-CN"],
             "nodes": {"a": {"type": "language", "prompt": {"text": {"zh-CN": "x"}},
                             "options": {"2": "en"}, "next": "b"}, "b": {"type": "hangup"}}},
            "node 'a': offers a language the flow has no prompts in",
        ),
        (
            _nodes(a={"type": "collect", "prompt": P, "variable": "v", "min_digits": 5,
                      "max_digits": 3, "next": "a", "on_failure": "a"}),
            "min_digits exceeds max_digits",
        ),
        (_nodes(a={"type": "transfer", "number": "sip:evil"}), "String should match pattern"),
        (_nodes(a={"type": "lookup", "url": "file:///etc/passwd", "next": "a",
                   "on_failure": "a"}), "String should match pattern"),
        (_nodes(a={"type": "hangup", "extra": 1}), "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_invalid_flows_say_what_is_wrong(flow: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Flow.model_validate(flow)
    assert message in str(error.value)


def test_a_loop_through_a_menu_is_fine() -> None:
    flow = Flow.model_validate(
        _nodes(
            a={"type": "hours", "open": "m", "closed": "m"},
            m={"type": "menu", "prompt": P, "options": {"1": "a"}, "on_failure": "a"},
        )
    )
    assert set(flow.nodes) == {"a", "m"}


def test_the_demo_flow_round_trips_through_json() -> None:
    flow = demo_flow({"billing": "q1"})
    assert Flow.model_validate_json(flow.model_dump_json()) == flow
    assert flow.nodes["billing"].queue_id == "q1"  # type: ignore[union-attr]
