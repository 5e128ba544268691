"""Normalised contact points are canonical: normalising again changes nothing, and every
spelling of one number or address lands on the same value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.core.errors import InvalidInput
from jietong.identity.contact_points import ContactKind, normalise

mobile = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"138{n:08d}")
separators = st.sampled_from(["", " ", "-", "."])


@given(mobile, separators)
def test_every_spelling_of_a_mainland_mobile_is_one_e164(number: str, sep: str) -> None:
    spelled = sep.join([number[:3], number[3:7], number[7:]])
    canonical = normalise(ContactKind.PHONE, spelled, "CN")
    assert canonical == f"+86{number}"
    assert normalise(ContactKind.PHONE, f"+86 {spelled}", "CN") == canonical
    assert normalise(ContactKind.PHONE, canonical, "US") == canonical  # idempotent


@given(st.emails())
def test_email_normalisation_is_idempotent(address: str) -> None:
    try:
        once = normalise(ContactKind.EMAIL, address, "CN")
    except InvalidInput:
        return  # hypothesis emails can be valid by RFC yet refused (e.g. reserved domains)
    assert normalise(ContactKind.EMAIL, once.upper(), "CN") == once


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (ContactKind.EMAIL, " Wang.Fang@Example.CN ", "wang.fang@example.cn"),
        (
            ContactKind.SIP_URI,
            "<sip:1001@PBX.Example.com;transport=UDP>",
            "sip:1001@pbx.example.com",
        ),
        (ContactKind.PHONE, "(0755) 8888 6666", "+8675588886666"),
        (ContactKind.PHONE, "+852 9123 4567", "+85291234567"),
        (ContactKind.WECHAT_OPENID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
    ],
)
def test_known_forms(kind: ContactKind, raw: str, expected: str) -> None:
    assert normalise(kind, raw, "CN") == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (ContactKind.PHONE, "12345"),
        (ContactKind.PHONE, "not a number"),
        (ContactKind.EMAIL, "nobody@"),
        (ContactKind.SIP_URI, "http://x"),
        (ContactKind.WECHAT_OPENID, "bad id!"),
        (ContactKind.CHAT_VISITOR, "   "),
    ],
)
def test_bad_values_are_refused_with_a_reason(kind: ContactKind, raw: str) -> None:
    with pytest.raises(InvalidInput, match=kind.value):
        normalise(kind, raw, "CN")
