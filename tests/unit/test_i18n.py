"""Both catalogues are complete, and every key the templates use exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jietong.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
LITERAL_KEY = re.compile(r"""t\(\s*["']([a-z_.]+)["']\s*[,)]""")


def test_catalogues_have_identical_keys() -> None:
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh-CN")
    assert set(en) == set(zh), set(en) ^ set(zh)


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_no_empty_or_untranslated_messages(locale: str) -> None:
    for key, message in i18n.catalogue(locale).items():
        assert message.strip(), key
        assert message != key, f"{locale}: {key} is untranslated"


def test_chinese_catalogue_is_chinese() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    same = [k for k in zh if zh[k] == en[k] and k != "app.name"]
    assert not same, f"identical to English: {same}"


def test_placeholders_match_between_languages() -> None:
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh-CN")
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_templates_use_only_known_keys() -> None:
    known = set(i18n.catalogue("en"))
    used = {k for f in TEMPLATES.glob("*.html") for k in LITERAL_KEY.findall(f.read_text())}
    assert used and used <= known, used - known
    roles = ("admin", "supervisor", "agent", "back_office", "read_only")
    assert {f"vip.{tier}" for tier in ("none", "silver", "gold", "platinum")} <= known
    for role in roles:
        assert {f"landing.{role}.title", f"landing.{role}.body", f"role.{role}"} <= known


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, en;q=0.5, zh;q=0.7", "zh-CN"),
        ("de", None),
        ("", None),
        ("zh-TW;q=bad, en", "en"),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_user_preference_beats_browser() -> None:
    assert i18n.choose_locale("en", None, "zh-CN", "zh-CN") == "en"
    assert i18n.choose_locale(None, "zh-CN", "en", "en") == "zh-CN"
    assert i18n.choose_locale(None, None, None, "xx") == "en"
