"""Visitor tokens and host-site identity: what we signed verifies, and any change to it,
another key, another widget or the passing of time does not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.channels.webchat import tokens

KEY = tokens.token_key(b"platform-secret")
WIDGET = "0192f0c4a1b27c3d8e9f00112233abcd"
OTHER_WIDGET = "0192f0c4a1b27c3d8e9f00112233abce"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def issued(visitor_id: str | None = None) -> str:
    token, _expires = tokens.issue(
        KEY, visitor_id or tokens.anonymous_visitor_id(), WIDGET, now=NOW
    )
    return token


def test_a_token_verifies_for_its_widget_until_it_expires() -> None:
    visitor_id = tokens.anonymous_visitor_id()
    token = issued(visitor_id)
    claims = tokens.verify(KEY, token, widget_key=WIDGET, now=NOW + timedelta(days=29))
    assert claims.visitor_id == visitor_id and claims.widget_key == WIDGET
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify(KEY, token, widget_key=WIDGET, now=NOW + tokens.TOKEN_TTL)
    with pytest.raises(tokens.InvalidToken, match="another widget"):
        tokens.verify(KEY, token, widget_key=OTHER_WIDGET, now=NOW)


def test_changing_the_visitor_id_inside_a_token_breaks_it() -> None:
    victim = tokens.anonymous_visitor_id()
    version, body, signature = issued().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["v"] = victim
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(tokens.InvalidToken, match="signature"):
        tokens.verify(KEY, f"{version}.{forged_body}.{signature}", widget_key=WIDGET, now=NOW)


def test_a_token_signed_with_another_key_is_refused() -> None:
    other_key = tokens.token_key(b"another-installation")
    token, _ = tokens.issue(other_key, tokens.anonymous_visitor_id(), WIDGET, now=NOW)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, token, widget_key=WIDGET, now=NOW)


def test_the_token_key_is_separated_from_the_platform_secret() -> None:
    assert tokens.token_key(b"s") != b"s" and len(tokens.token_key(b"s")) == 32


@given(st.text(max_size=300))
def test_garbage_never_verifies_and_never_crashes(garbage: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, garbage, widget_key=WIDGET, now=NOW)


@given(position=st.integers(min_value=0, max_value=200), bit=st.integers(min_value=0, max_value=6))
def test_any_flipped_character_is_refused(position: int, bit: int) -> None:
    token = issued()
    index = position % len(token)
    flipped = chr(ord(token[index]) ^ (1 << bit))
    tampered = token[:index] + flipped + token[index + 1 :]
    if tampered == token:
        return
    try:
        claims = tokens.verify(KEY, tampered, widget_key=WIDGET, now=NOW)
    except tokens.InvalidToken:
        return
    # base64 padding bits can change without changing the bytes: then nothing changed.
    assert claims == tokens.verify(KEY, token, widget_key=WIDGET, now=NOW)


def test_visitor_ids_are_random_and_verified_ids_are_stable() -> None:
    assert tokens.anonymous_visitor_id() != tokens.anonymous_visitor_id()
    assert tokens.is_visitor_id(tokens.anonymous_visitor_id())
    a = tokens.verified_visitor_id(WIDGET, "user-42")
    assert a == tokens.verified_visitor_id(WIDGET, "user-42")
    assert a != tokens.verified_visitor_id(WIDGET, "user-43")
    assert a != tokens.verified_visitor_id(OTHER_WIDGET, "user-42")  # sites do not share ids
    assert tokens.is_visitor_id(a)


def test_identity_needs_the_hosts_hmac_of_that_very_user_id() -> None:
    secret = "host-identity-secret"
    good = tokens.identity_hash(secret, "wang.fang@example.cn")
    tokens.check_identity(secret, "wang.fang@example.cn", good)
    tokens.check_identity(secret, "wang.fang@example.cn", good.upper())  # hex case
    with pytest.raises(tokens.IdentityRefused, match="not the HMAC"):
        tokens.check_identity(secret, "li.wei@example.cn", good)  # posing as another user
    with pytest.raises(tokens.IdentityRefused, match="not the HMAC"):
        tokens.check_identity(secret, "wang.fang@example.cn", good[:-1] + "0")
    with pytest.raises(tokens.IdentityRefused, match="not the HMAC"):
        tokens.check_identity("another-secret", "wang.fang@example.cn", good)
    with pytest.raises(tokens.IdentityRefused, match="no identity"):
        tokens.check_identity(None, "wang.fang@example.cn", good)
    with pytest.raises(tokens.IdentityRefused, match="printable"):
        tokens.check_identity(secret, "bad\nid", tokens.identity_hash(secret, "bad\nid"))
