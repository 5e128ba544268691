"""The admin console's recording form on a call queue's row, in a real Chromium against
a real demo server, in English and in Chinese: the admin sets "never" and 30 days, the
server stores it, and the form shows it again when reopened."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_desktop import browser, login_of, opened, shot, signed_in
from tests.integration.telephony.sip_harness import free_udp_port
from tests.servers import free_port, server_env, start_server

__all__ = ["browser", "opened"]  # fixtures, used by name

LABELS = {
    "en": {"button": "Recording", "never": "Never", "title": "Call recording"},
    "zh-CN": {"button": "录音", "never": "从不录音", "title": "通话录音"},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = server_env(
        tmp_path_factory.mktemp("e2e-recording"),
        smtp_enabled="false",
        login_attempts_per_minute="60",
        sip_port=str(free_udp_port()),
    )
    proc = start_server(env, port, command="demo")
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def _admin_api(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    done = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": login_of("admin").password}
    )
    assert done.status_code == 200, done.text
    client.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    return client


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_sets_a_queues_recording_policy(
    browser: Any, demo: str, locale: str, opened: list[Any]
) -> None:
    from playwright.sync_api import expect

    labels = LABELS[locale]
    api = _admin_api(demo)
    queues = {q["name"]: q["id"] for q in api.get("/api/v1/queues").json()["items"]}
    url = f"/api/v1/voice/queues/{queues['Billing']}/recording"
    api.put(url, json={"record": "inherit"})  # the other locale's run starts alike

    admin = signed_in(browser, demo, "admin", locale, "/admin#queues", opened)
    row = admin.locator(".admin-table tr", has_text="Billing")
    button = row.locator("button[data-action=recording]")
    expect(button).to_have_text(labels["button"])
    button.click()
    form = admin.locator("form.recording-form")
    expect(admin.locator("dialog h3")).to_contain_text(labels["title"])
    form.locator("select[name=record]").select_option("never")
    expect(form.locator("select[name=record]")).to_contain_text(labels["never"])
    form.locator("input[name=consent]").uncheck()
    form.locator("input[name=retention_days]").fill("30")
    shot(admin, f"admin-{locale}-recording")
    form.locator("button[type=submit]").click()
    expect(form).to_have_count(0)  # saved: the dialog closed

    stored = api.get(url).json()
    assert (stored["record"], stored["consent"], stored["retention_days"]) == ("never", False, 30)
    assert stored["records_calls"] is False

    row.locator("button[data-action=recording]").click()
    form = admin.locator("form.recording-form")
    expect(form.locator("select[name=record]")).to_have_value("never")
    expect(form.locator("input[name=retention_days]")).to_have_value("30")
    expect(form.locator("input[name=consent]")).not_to_be_checked()
    admin.keyboard.press("Escape")
    assert not admin.errors, admin.errors
