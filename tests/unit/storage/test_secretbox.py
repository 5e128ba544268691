"""SecretBox (ADR 0016): sealing round-trips, plaintext from before sealing passes,
rotation keys, and the key settings (file mode, separation from the signing key)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from jietong.app.settings import Settings
from jietong.storage.secretbox import SEALED_PREFIX, SecretBox, UndecryptableSecret

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()
BOX = SecretBox([OLD])


@given(st.text())
def test_any_string_survives_seal_then_open(plain: str) -> None:
    sealed = BOX.seal(plain)
    assert sealed.startswith(SEALED_PREFIX) and SecretBox.is_sealed(sealed)
    assert BOX.open(sealed, owner="x") == plain


@given(st.text().filter(lambda s: not s.startswith(SEALED_PREFIX)))
def test_a_value_stored_before_sealing_is_read_as_it_is(plain: str) -> None:
    assert not SecretBox.is_sealed(plain)
    assert BOX.open(plain, owner="x") == plain


def test_the_sealed_form_does_not_contain_the_secret() -> None:
    secret = "a-fairly-long-carrier-password-9"
    assert secret not in BOX.seal(secret)
    sealed = BOX.seal_values({"auth_token": secret})
    assert list(sealed) == ["auth_token"] and secret not in sealed["auth_token"]
    assert BOX.open_values(sealed, owner="x") == {"auth_token": secret}


def test_the_first_key_seals_and_every_key_opens() -> None:
    sealed_old = BOX.seal("rotate-me-please")
    both = SecretBox([NEW, OLD])
    assert both.open(sealed_old, owner="x") == "rotate-me-please"
    resealed = both.seal(both.open(sealed_old, owner="x"))
    assert SecretBox([NEW]).open(resealed, owner="x") == "rotate-me-please"
    with pytest.raises(UndecryptableSecret):
        BOX.open(resealed, owner="x")  # sealed with NEW, which the old box lacks


def test_a_value_no_key_opens_names_its_owner_never_the_value() -> None:
    sealed = SecretBox([NEW]).seal("never-in-messages-42")
    with pytest.raises(UndecryptableSecret) as caught:
        BOX.open_values({"app_secret": sealed}, owner="channel account abc123")
    message = str(caught.value)
    assert "channel account abc123" in message and "app_secret" in message
    assert "never-in-messages-42" not in message and sealed[8:40] not in message
    with pytest.raises(UndecryptableSecret):
        BOX.open(SEALED_PREFIX + "damaged", owner="x")


def test_the_box_does_not_show_its_keys() -> None:
    assert OLD.decode() not in repr(BOX) and OLD.decode() not in str(BOX)


def test_unset_keys_are_generated_once_into_the_data_dir_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    keys = settings.secrets_keyring()
    path = tmp_path / "data" / "secrets.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys) == 1 and Settings(data_dir=tmp_path / "data").secrets_keyring() == keys
    box = SecretBox(keys)
    assert box.open(box.seal("x" * 20), owner="x") == "x" * 20
    # The signing key is another key in another file: rotating one leaves the other.
    assert settings.secret() not in keys
    assert (tmp_path / "data" / "secret.key").read_text() != path.read_text()


def test_configured_keys_are_used_in_order_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secrets_keys=f" {NEW.decode()} , {OLD.decode()} ")
    assert settings.secrets_keyring() == [NEW, OLD]
    assert not (tmp_path / "secrets.key").exists()


def test_a_malformed_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    bad = "not-a-fernet-key-but-a-secret"
    settings = Settings(data_dir=tmp_path, secrets_keys=f"{NEW.decode()},{bad}")
    with pytest.raises(ValueError, match="key 2 of 2") as caught:
        settings.secrets_keyring()
    assert bad not in str(caught.value) and NEW.decode() not in str(caught.value)
