"""Workforce planning in a real Chromium, in Chinese: the demo's supervisor opens the page
from home, plans the General queue's calls from the demo's six weeks of history, and sees
the accuracy table and the three charts load. The screenshot is kept in test-artifacts/."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from jietong.app.bootstrap import DEMO_LOGINS
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.test_web_shell import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port, server_env, start_server


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = start_server(server_env(tmp_path_factory.mktemp("e2e-wfm")), port, command="demo")
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


def test_supervisor_plans_the_general_queue_in_chinese(browser: object, demo_url: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    login = next(x for x in DEMO_LOGINS if x.username == "supervisor")
    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN"},
        viewport={"width": 1100, "height": 900},
    )
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{demo_url}/login")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{demo_url}/home")

    page.click("#home-wfm")
    expect(page).to_have_url(f"{demo_url}/wfm")
    expect(page.locator("h1")).to_have_text("人力规划")
    page.select_option("select[name=queue]", label="General")
    page.select_option("select[name=channel]", "call")
    page.select_option("select[name=interval]", "30")
    page.fill("input[name=horizon]", "2")
    expect(page.locator("input[name=schedule]")).to_be_checked()
    page.click("#wfm-form button[type=submit]")

    accuracy = page.locator("#wfm-accuracy")
    expect(accuracy).to_be_visible(timeout=60_000)
    expect(accuracy).to_contain_text("4 周移动平均")
    expect(accuracy).to_contain_text("已选用")
    expect(page.locator("#wfm-days tbody tr")).to_have_count(2)
    images = page.locator("#wfm-charts img")
    expect(images).to_have_count(3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#wfm-charts img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=60_000,
    )
    widths = images.evaluate_all("(imgs) => imgs.map(img => img.naturalWidth)")
    assert all(width > 300 for width in widths), widths
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    csv_link = re.compile(r"^/wfm/plan\.csv\?run=1&queue=\w+&channel=call&interval=30")
    expect(page.locator("#wfm-csv")).to_have_attribute("href", csv_link)
    assert not [m for m in console if "Content Security Policy" in m], console
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wfm-supervisor-zh-CN.png"), full_page=True)
    context.close()
