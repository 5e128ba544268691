"""The admin console's voice sections in a real Chromium against a real demo server, in
English and in Chinese: an IVR flow typed as JSON is stored and listed, one the server
refuses shows the server's message and stores nothing, a WAV uploaded as a prompt is
listed with its duration, a trunk the server refuses shows its message next to the field,
and a new SIP phone's password is shown once (and again, a new one, when rotated)."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_admin_recording import _admin_api, demo
from tests.e2e.test_desktop import browser, opened, shot, signed_in

__all__ = ["browser", "demo", "opened"]  # fixtures, used by name

TITLES = {
    "en": {"ivr": "IVR flows", "phones": "SIP phones", "prompts": "Voice prompts"},
    "zh-CN": {"ivr": "语音导航流程", "phones": "SIP 话机", "prompts": "语音提示音"},
}

VALID: dict[str, Any] = {
    "start": "welcome",
    "languages": ["zh-CN", "en"],
    "nodes": {
        "welcome": {
            "type": "play",
            "prompt": {"text": {"zh-CN": "您好", "en": "Hello"}},
            "next": "bye",
        },
        "bye": {"type": "hangup"},
    },
}
# Refused as a whole: the start node names nothing.
INVALID: dict[str, Any] = {
    "start": "nowhere",
    "languages": ["en"],
    "nodes": {"bye": {"type": "hangup"}},
}


def _tone_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
        )
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_edits_ivr_flows(browser: Any, demo: str, locale: str, opened: list[Any]) -> None:
    from playwright.sync_api import expect

    api = _admin_api(demo)
    name, bad = f"Hotline {locale}", f"Broken {locale}"
    # A number enters one flow only: each language's run has its own.
    numbers = {"en": "4008001000, 4008001001", "zh-CN": "4008002000, 4008002001"}[locale]
    admin = signed_in(browser, demo, "admin", locale, "/admin#ivr", opened)
    section = admin.locator(".admin-section[data-section=ivr]")
    expect(section.locator("h2")).to_have_text(TITLES[locale]["ivr"])
    form = section.locator("form.admin-form")

    form.locator("#f-name").fill(name)
    form.locator("#f-numbers").fill(numbers)
    form.locator("#f-definition").fill(json.dumps(VALID, ensure_ascii=False))
    form.locator("button[type=submit]").click()
    row = section.locator(".admin-table tr", has_text=name)
    expect(row).to_have_count(1)
    # name, numbers, version, steps
    expect(row.locator("td").nth(1)).to_have_text(numbers)
    expect(row.locator("td").nth(2)).to_have_text("1")
    expect(row.locator("td").nth(3)).to_have_text("2")
    stored = {f["name"]: f for f in api.get("/api/v1/voice/ivr-flows").json()}
    assert stored[name]["definition"]["nodes"]["welcome"]["next"] == "bye"
    shot(admin, f"admin-{locale}-ivr-listed")

    form.locator("#f-name").fill(bad)
    form.locator("#f-definition").fill(json.dumps(INVALID))
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-field-error=definition]")).to_contain_text("nowhere")
    shot(admin, f"admin-{locale}-ivr-refused")
    assert bad not in {f["name"] for f in api.get("/api/v1/voice/ivr-flows").json()}
    expect(section.locator(".admin-table tr", has_text=bad)).to_have_count(0)

    # Editing saves a new version; the versions panel lists it.
    row.locator("button", has_text={"en": "Edit", "zh-CN": "编辑"}[locale]).click()
    changed = {
        **VALID,
        "nodes": {
            **VALID["nodes"],
            "welcome": {**VALID["nodes"]["welcome"], "interruptible": True},
        },
    }
    form.locator("#f-definition").fill(json.dumps(changed, ensure_ascii=False))
    form.locator("button[type=submit]").click()
    expect(row.locator("td").nth(2)).to_have_text("2")
    flow_id = stored[name]["id"]
    assert api.get(f"/api/v1/voice/ivr-flows/{flow_id}").json()["definition"]["nodes"]["welcome"][
        "interruptible"
    ]
    versions = api.get(f"/api/v1/voice/ivr-flows/{flow_id}/versions").json()
    row.locator("button[data-action=versions]").click()
    dialog = admin.locator("dialog")
    expect(dialog.locator("details.flow-version")).to_have_count(len(versions))
    assert {v["version"] for v in versions} >= {1}
    shot(admin, f"admin-{locale}-ivr-versions")
    admin.keyboard.press("Escape")
    assert not admin.errors, admin.errors


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_uploads_a_prompt(
    browser: Any, demo: str, locale: str, opened: list[Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api = _admin_api(demo)
    name = f"greeting-{locale.lower()}"
    wav = tmp_path / "greeting.wav"
    wav.write_bytes(_tone_wav())
    admin = signed_in(browser, demo, "admin", locale, "/admin#prompts", opened)
    section = admin.locator(".admin-section[data-section=prompts]")
    expect(section.locator("h2")).to_have_text(TITLES[locale]["prompts"])
    form = section.locator("form.admin-form")
    form.locator("#f-name").fill(name)
    form.locator("#f-language").select_option(locale)
    form.locator("#f-file").set_input_files(str(wav))
    form.locator("button[type=submit]").click()
    expect(section.locator(".admin-table tr", has_text=name)).to_have_count(1)
    shot(admin, f"admin-{locale}-prompts")
    stored = {p["name"]: p for p in api.get("/api/v1/voice/prompts").json()}
    assert stored[name]["language"] == locale
    assert 400 <= stored[name]["duration_ms"] <= 600

    # No file: the server's message, nothing stored.
    form.locator("#f-name").fill(f"{name}-nofile")
    form.locator("button[type=submit]").click()
    expect(form.locator("p.error")).not_to_be_empty()
    assert f"{name}-nofile" not in {p["name"] for p in api.get("/api/v1/voice/prompts").json()}
    assert not admin.errors, admin.errors


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_creates_a_phone_and_sees_its_password_once(
    browser: Any, demo: str, locale: str, opened: list[Any]
) -> None:
    from playwright.sync_api import expect

    api = _admin_api(demo)
    user = api.post(
        "/api/v1/users",
        json={
            "username": f"phoneuser-{locale.lower()}",
            "display_name": f"Phone user {locale}",
            "password": "a long enough password 42",
            "role": "agent",
        },
    )
    assert user.status_code == 201, user.text
    sip_name = f"ext-{locale.lower()}"
    admin = signed_in(browser, demo, "admin", locale, "/admin#phones", opened)
    section = admin.locator(".admin-section[data-section=phones]")
    expect(section.locator("h2")).to_have_text(TITLES[locale]["phones"])
    form = section.locator("form.admin-form")
    expect(form.locator("#f-enabled")).to_have_count(0)  # a new account is enabled
    form.locator("#f-user_id").select_option(user.json()["id"])
    form.locator("#f-username").fill(sip_name)
    form.locator("button[type=submit]").click()
    password = admin.locator("dialog pre[data-password]")
    expect(password).to_be_visible()
    shown = password.inner_text().strip()
    assert len(shown) >= 12
    shot(admin, f"admin-{locale}-phone-password")
    admin.keyboard.press("Escape")
    expect(password).to_have_count(0)

    row = section.locator(".admin-table tr", has_text=sip_name)
    expect(row).to_have_count(1)
    assert shown not in (admin.content())  # once: not in the list or anywhere else
    phones = {p["username"]: p for p in api.get("/api/v1/voice/phones").json()}
    assert phones[sip_name]["user_id"] == user.json()["id"]
    assert shown not in json.dumps(phones[sip_name])

    # Rotating shows another password, once.
    admin.on("dialog", lambda d: d.accept())
    row.locator("button[data-action=rotate]").click()
    expect(password).to_be_visible()
    assert password.inner_text().strip() not in ("", shown)
    admin.keyboard.press("Escape")
    assert not admin.errors, admin.errors


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_creates_and_edits_a_trunk(
    browser: Any, demo: str, locale: str, opened: list[Any]
) -> None:
    from playwright.sync_api import expect

    api = _admin_api(demo)
    name = f"Carrier {locale}"
    admin = signed_in(browser, demo, "admin", locale, "/admin#trunks", opened)
    section = admin.locator(".admin-section[data-section=trunks]")
    form = section.locator("form.admin-form")
    form.locator("#f-name").fill(name)
    form.locator("#f-host").fill("sip.carrier.example")
    form.locator("#f-allowed_sources").fill("203.0.113.0/24 not-an-ip")
    form.locator("#f-password").fill("s3cret-trunk")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-field-error=allowed_sources]")).to_contain_text("not-an-ip")
    assert name not in {x["name"] for x in api.get("/api/v1/voice/trunks").json()}

    form.locator("#f-allowed_sources").fill("203.0.113.0/24, 198.51.100.7")
    form.locator("button[type=submit]").click()
    row = section.locator(".admin-table tr", has_text=name)
    expect(row).to_have_count(1)
    stored = {x["name"]: x for x in api.get("/api/v1/voice/trunks").json()}[name]
    assert stored["allowed_sources"] == ["203.0.113.0/24", "198.51.100.7"]
    assert stored["has_password"] and stored["port"] == 5060

    # Editing with the password left empty keeps the stored one.
    row.locator("button", has_text={"en": "Edit", "zh-CN": "编辑"}[locale]).click()
    expect(form.locator("#f-password")).to_have_value("")
    form.locator("#f-port").fill("5080")
    form.locator("button[type=submit]").click()
    expect(row).to_contain_text("sip.carrier.example:5080")
    shot(admin, f"admin-{locale}-trunks")
    again = api.get(f"/api/v1/voice/trunks/{stored['id']}").json()
    assert again["port"] == 5080 and again["has_password"]
    assert not admin.errors, admin.errors
