"""The web chat widget in a real Chromium against a real demo server: a visitor writes
on the demo host page, the message is an interaction's message in the API, an agent's
reply (posted through the REST API as agent1) appears in the widget, and after a reload
the conversation is there again, each message once. In Chinese and in English; and once
from a page on another origin, as on a customer's own site (CORS, cross-site socket).
Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from jietong.app.bootstrap import DEMO_LOGINS
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.test_web_shell import CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port, server_env, start_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDGET = "#jietong-chat"  # Playwright's CSS engine looks inside the open shadow root
WORDS = {
    "zh-CN": {
        "open": "咨询",
        "question": "你好，我上周买的茶叶还没到",
        "reply": "您好，我马上为您查询物流",
        "name": "李雷",
    },
    "en": {
        "open": "Chat",
        "question": "Hello, my tea order from last week has not arrived",
        "reply": "Hello, I am checking the delivery for you now",
        "name": "Lei Li",
    },
}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = server_env(tmp_path_factory.mktemp("e2e-chat"), smtp_enabled="false")
    proc = start_server(env, port, command="demo")
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"Chromium is required but missing at {CHROMIUM}")
        pytest.skip("Chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def widget_key(demo_url: str) -> str:
    # The demo organisation's widget, as an admin would find it.
    answer = httpx.get(f"{demo_url}/api/v1/channels/chat/demo", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].split("/")[-2]


class Agent:
    """agent1 of the demo, signed in through the REST API (cookie + CSRF header)."""

    def __init__(self, base: str, username: str) -> None:
        login = next(x for x in DEMO_LOGINS if x.username == username)
        self.http = httpx.Client(base_url=base, timeout=30)
        r = self.http.post(
            "/api/v1/auth/login", json={"username": login.username, "password": login.password}
        )
        assert r.status_code == 200, r.text
        self.http.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    def conversation_with(self, text: str) -> str:
        """The chat interaction holding a message with `text` (newest chats first)."""
        page = self.http.get("/api/v1/interactions", params={"channel": "chat", "limit": 20})
        assert page.status_code == 200, page.text
        for interaction in page.json()["items"]:
            messages = self.http.get(f"/api/v1/interactions/{interaction['id']}/messages")
            if any(m["body_text"] == text for m in messages.json()["items"]):
                return str(interaction["id"])
        raise AssertionError(f"no chat interaction has the message {text!r}")

    def typing(self, interaction_id: str) -> None:
        r = self.http.post(f"/api/v1/channels/chat/interactions/{interaction_id}/typing")
        assert r.status_code == 204, r.text

    def reply(self, interaction_id: str, text: str) -> None:
        r = self.http.post(f"/api/v1/interactions/{interaction_id}/replies", json={"text": text})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_visitor_and_agent_chat_and_the_conversation_survives_a_reload(
    browser: Any, demo_url: str, widget_key: str, locale: str
) -> None:
    from playwright.sync_api import expect

    words = WORDS[locale]
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{demo_url}/api/v1/channels/chat/{widget_key}/demo")
    launcher = page.locator(f"{WIDGET} .launcher")
    expect(launcher).to_have_text(words["open"])
    launcher.click()
    page.locator(f"{WIDGET} form.prechat input[name=name]").fill(words["name"])
    page.locator(f"{WIDGET} form.prechat button[type=submit]").click()
    composer = page.locator(f"{WIDGET} textarea.text")
    composer.fill(words["question"])
    composer.press("Enter")
    settled = page.locator(f"{WIDGET} .message.visitor:not(.pending) .text")
    expect(settled).to_have_text([words["question"]])

    agent = Agent(demo_url, "agent1")
    interaction_id = agent.conversation_with(words["question"])
    agent.typing(interaction_id)
    expect(page.locator(f"{WIDGET} .typing")).to_contain_text("Agent1")
    agent.reply(interaction_id, words["reply"])
    expect(page.locator(f"{WIDGET} .message.agent .text")).to_have_text([words["reply"]])
    expect(page.locator(f"{WIDGET} .message.agent .author")).to_have_text(["Agent1"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"webchat-{locale}.png"))

    page.reload()
    page.locator(f"{WIDGET} .launcher").click()
    every = page.locator(f"{WIDGET} .message .text")
    expect(every).to_have_text([words["question"], words["reply"]])
    page.wait_for_timeout(500)  # anything duplicated late would show up now
    expect(every).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / f"webchat-{locale}-after-reload.png"))
    assert not errors, errors
    context.close()


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another shop</title></head>
<body><h1>Another shop, another origin</h1>
<script src="{base}/static/widget/jietong-chat.js" data-widget-key="{key}"
        data-locale="en" async></script>
</body></html>"""


@pytest.fixture
def foreign_site(demo_url: str, widget_key: str) -> Iterator[str]:
    """A customer's site: another origin (another port) whose page embeds the widget."""
    page = HOST_PAGE.format(base=demo_url, key=widget_key).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_widget_works_on_another_sites_page(
    browser: Any, demo_url: str, foreign_site: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="en")
    page = context.new_page()
    page.goto(foreign_site)
    page.locator(f"{WIDGET} .launcher").click()
    page.locator(f"{WIDGET} form.prechat button.link").click()  # skip the optional form
    composer = page.locator(f"{WIDGET} textarea.text")
    composer.fill("Asking from a partner site")
    composer.press("Enter")
    expect(page.locator(f"{WIDGET} .message.visitor:not(.pending) .text")).to_have_text(
        ["Asking from a partner site"]
    )
    # A file, uploaded cross-origin (multipart + CORS), shows as a message with its name.
    page.locator(f"{WIDGET} input.file").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}
    )
    expect(page.locator(f"{WIDGET} .message.visitor:not(.pending) .file-link")).to_have_text(
        ["receipt.png"]
    )
    page.screenshot(path=str(ARTIFACTS / "webchat-foreign-site.png"))
    assert Agent(demo_url, "agent1").conversation_with("Asking from a partner site")
    context.close()


def test_the_widget_falls_back_to_http_when_websockets_are_blocked(
    browser: Any, demo_url: str, widget_key: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="en")
    page = context.new_page()
    # A network that lets no WebSocket through: every socket is closed before "welcome".
    page.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close())
    page.goto(f"{demo_url}/api/v1/channels/chat/{widget_key}/demo")
    page.locator(f"{WIDGET} .launcher").click()
    page.locator(f"{WIDGET} form.prechat button.link").click()
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "polling", timeout=20_000)
    composer = page.locator(f"{WIDGET} textarea.text")
    composer.fill("Sent without a socket")
    composer.press("Enter")
    settled = page.locator(f"{WIDGET} .message.visitor:not(.pending) .text")
    expect(settled).to_have_text(["Sent without a socket"])
    agent = Agent(demo_url, "agent1")
    agent.reply(agent.conversation_with("Sent without a socket"), "Answered over HTTP")
    expect(page.locator(f"{WIDGET} .message.agent .text")).to_have_text(["Answered over HTTP"])
    expect(page.locator(f"{WIDGET} .message")).to_have_count(2)
    context.close()
