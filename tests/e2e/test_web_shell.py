"""The web shell in a real Chromium (Debian's, driven by Playwright): sign in as each kind
of user, in Chinese and in English, see the right landing page, sign out.
Screenshots are kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from jietong.app.bootstrap import DEMO_LOGINS
from tests.conftest import REQUIRE_SERVICES
from tests.servers import free_port, server_env, start_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("JIETONG_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = start_server(server_env(tmp_path_factory.mktemp("e2e")), port, command="demo")
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"Chromium is required but missing at {CHROMIUM}")
        pytest.skip("Chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


EXPECTED_TITLES = {
    "zh-CN": {"admin": "管理控制台", "agent": "坐席工作台", "back_office": "后台处理"},
    "en": {"admin": "Admin console", "agent": "Agent desktop", "back_office": "Back office"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("username", ["admin", "agent1", "repair"])
def test_sign_in_lands_on_the_role_page(
    browser: object, demo_url: str, locale: str, username: str
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    login = next(x for x in DEMO_LOGINS if x.username == username)
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    page.goto(f"{demo_url}/home")
    expect(page).to_have_url(f"{demo_url}/login")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{demo_url}/home")
    role = "agent" if username == "agent1" else ("back_office" if username == "repair" else "admin")
    expect(page.locator("h1")).to_have_text(EXPECTED_TITLES[locale][role])
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator("table")).to_contain_text("王芳")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"home-{username}-{locale}.png"), full_page=True)
    page.locator("form[action='/logout'] button").click()
    expect(page).to_have_url(f"{demo_url}/login")
    page.goto(f"{demo_url}/home")
    expect(page).to_have_url(f"{demo_url}/login")
    context.close()


def test_wrong_password_shows_a_translated_error(browser: object, demo_url: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.goto(f"{demo_url}/login")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("用户名或密码错误。")
    page.click("text=English")
    page.goto(f"{demo_url}/login")
    expect(page.locator("h1")).to_have_text("Sign in")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-en.png"))
    context.close()
