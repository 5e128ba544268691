"""A reply's CC (property tests): whatever an agent types, a CC address either is refused
or comes out as exactly one address on the Cc header (internationalised ones too, as
UTF-8); a line break is always refused, and no input adds a header to the mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_string, policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.channels.base import OutboundMessage, Party
from jietong.channels.email.compose import Sender, ThreadContext, compose
from jietong.channels.reply_contents import ReplyParts, check_parts
from jietong.core.errors import InvalidInput
from jietong.identity.contact_points import ContactKind

CUSTOMER = "wang.fang@example.cn"
local = st.from_regex(r"[a-z0-9_+-]{1,10}(\.[a-z0-9_+-]{1,6}){0,2}", fullmatch=True)
domain = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){1,2}", fullmatch=True)
addresses = st.builds(lambda a, b: f"{a}@{b}", local, domain)
anything = st.text(max_size=60)
# Typed input: garbage, real addresses, and real addresses with something stuck on.
typed = st.one_of(
    anything,
    addresses,
    st.builds(lambda a, junk: a + junk, addresses, anything),
    st.builds(lambda junk, a: junk + a, anything, addresses),
)


def mail_with(cc: tuple[str, ...]) -> bytes:
    message = OutboundMessage(
        channel="email",
        org_id="a" * 32,
        delivery_id="d" * 32,
        interaction_id="b" * 32,
        message_id="c" * 32,
        recipient=Party(kind=ContactKind.EMAIL, address=CUSTOMER),
        text="hi",
        cc=cc,
    )
    sender = Sender("support@a.example", "Support")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return compose(message, sender, ThreadContext(), secret=b"k" * 32, now=now).data


@given(st.lists(anything, min_size=1, max_size=4), st.sampled_from(["\r", "\n", "\r\n"]), st.data())
def test_a_line_break_anywhere_in_a_cc_is_refused(
    cc: list[str], newline: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(cc) - 1))
    cut = data.draw(st.integers(0, len(cc[at])))
    cc[at] = cc[at][:cut] + newline + cc[at][cut:]
    with pytest.raises(InvalidInput):
        check_parts(ReplyParts(cc=tuple(cc)), kind=ContactKind.EMAIL, recipient=CUSTOMER)


@given(st.lists(typed, min_size=1, max_size=4))
def test_whatever_is_accepted_is_exactly_the_cc_header_and_adds_no_header(cc: list[str]) -> None:
    try:
        parts = check_parts(ReplyParts(cc=tuple(cc)), kind=ContactKind.EMAIL, recipient=CUSTOMER)
    except InvalidInput:
        return
    # Read as an SMTPUTF8 receiver does: the header bytes are UTF-8.
    mail = message_from_string(mail_with(parts.cc).decode("utf-8"), policy=policy.default)
    plain = message_from_string(mail_with(()).decode("utf-8"), policy=policy.default)
    assert set(mail.keys()) - set(plain.keys()) <= {"Cc"}
    got = [a.addr_spec for a in mail["Cc"].addresses] if parts.cc else []
    assert got == list(parts.cc)


@given(st.lists(addresses, min_size=1, max_size=5))
def test_real_addresses_pass_once_each_and_never_the_recipient(cc: list[str]) -> None:
    typed = [*cc, CUSTOMER.upper(), *(a.upper() for a in cc)]
    parts = check_parts(ReplyParts(cc=tuple(typed)), kind=ContactKind.EMAIL, recipient=CUSTOMER)
    assert list(parts.cc) == list(dict.fromkeys(a for a in cc if a.lower() != CUSTOMER))
