"""Reply tokens and our Message-IDs: they verify only as made, for the org they name."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jietong.channels.email import tokens

SECRET = b"test-secret-key"
ORG = "0" * 31 + "a"
OTHER_ORG = "0" * 31 + "b"
ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


@given(interaction=ids)
def test_reply_token_round_trip(interaction: str) -> None:
    token = tokens.reply_token(SECRET, ORG, interaction)
    assert len(token) == 43 and token == token.lower()
    assert tokens.verify_reply_token(SECRET, ORG, token) == interaction
    assert tokens.verify_reply_token(SECRET, ORG, token.upper()) == interaction  # case folded


@given(interaction=ids)
def test_a_token_is_bound_to_its_organisation_and_secret(interaction: str) -> None:
    token = tokens.reply_token(SECRET, ORG, interaction)
    assert tokens.verify_reply_token(SECRET, OTHER_ORG, token) is None
    assert tokens.verify_reply_token(b"another-secret", ORG, token) is None


@settings(max_examples=300)
@given(interaction=ids, victim=ids, position=st.integers(0, 42), char=st.sampled_from("a2z7q"))
def test_forged_or_altered_tokens_never_verify(
    interaction: str, victim: str, position: int, char: str
) -> None:
    assume(interaction != victim)
    token = tokens.reply_token(SECRET, ORG, interaction)
    altered = token[:position] + char + token[position + 1 :]
    assume(altered != token)
    assert tokens.verify_reply_token(SECRET, ORG, altered) is None
    # Splicing another conversation's id into a genuine token does not work either.
    other = tokens.reply_token(SECRET, ORG, victim)
    assert tokens.verify_reply_token(SECRET, ORG, other[:27] + token[27:]) is None


@given(junk=st.text(max_size=80))
def test_arbitrary_text_is_never_a_token(junk: str) -> None:
    assert tokens.verify_reply_token(SECRET, ORG, junk) is None
    assert tokens.verify_message_id(SECRET, ORG, junk) is None


@given(interaction=ids, delivery=ids)
def test_message_id_round_trip_and_kind_separation(interaction: str, delivery: str) -> None:
    mid = tokens.our_message_id(SECRET, ORG, interaction, delivery, "mail.example.cn")
    assert mid.endswith("@mail.example.cn")
    found = tokens.verify_message_id(SECRET, ORG, mid)
    assert found == tokens.OurMessageId(interaction, delivery)
    assert tokens.verify_message_id(SECRET, OTHER_ORG, mid) is None
    # Same inputs, same id: a retried send repeats its Message-ID.
    assert mid == tokens.our_message_id(SECRET, ORG, interaction, delivery, "mail.example.cn")
    # A reply token's MAC is no Message-ID MAC.
    mac = tokens.reply_token(SECRET, ORG, interaction)[27:]
    forged = f"{mid.split('.')[0]}.{mid.split('.')[1]}.{mid.split('.')[2]}.{mac}@x"
    assert tokens.verify_message_id(SECRET, ORG, forged) is None


def test_reply_address_uses_plus_addressing_within_the_local_part_limit() -> None:
    token = tokens.reply_token(SECRET, ORG, "0" * 32)
    address = tokens.reply_address("support@demo.example", token)
    assert address == f"support+{token}@demo.example"
    assert tokens.split_plus_address(address) == ("support@demo.example", token)
    assert tokens.split_plus_address("Support@Demo.Example") == ("support@demo.example", None)
    long_box = "a-very-long-mailbox-name-for-support@demo.example"
    assert tokens.reply_address(long_box, token) == long_box  # would pass 64 characters
