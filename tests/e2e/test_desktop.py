"""The agent desktop, the wallboard and the admin console in a real Chromium against a
real demo server, in English and in Chinese: a customer writes in the chat widget (one
browser context), an agent who went available gets the offer (another context), accepts
and replies, the customer sees the reply, the supervisor's wallboard counts the answered
chat, the agent wraps up. The agent's connection drops and resumes without losing or
repeating anything. Screenshots of every screen go to test-artifacts/."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from jietong.app.bootstrap import DEMO_LOGINS
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.test_web_shell import CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port, server_env, start_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDGET = "#jietong-chat"
RUNS = {
    "en": {
        "agent": "agent1",
        "customer": "Mei Lin",
        "question": "Hi, where is my order 1234?",
        "later": "It was a blue teapot",
        "reply": "Hello Mei, let me check that for you.",
        "available": "Available",
        "answered_label": "Offered / answered",
    },
    "zh-CN": {
        "agent": "agent2",
        "customer": "林美",
        "question": "你好，我的订单 5678 到哪里了？",
        "later": "是一个蓝色的茶壶",
        "reply": "您好，我马上为您查询。",
        "available": "空闲",
        "answered_label": "进线 / 接通",
    },
}


def login_of(username: str) -> Any:
    return next(x for x in DEMO_LOGINS if x.username == username)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    # Every test signs people in from loopback: more than the default 10 a minute.
    env = server_env(
        tmp_path_factory.mktemp("e2e-desk"), smtp_enabled="false", login_attempts_per_minute="60"
    )
    proc = start_server(env, port, command="demo")
    url = f"http://127.0.0.1:{port}"
    prepare(url)
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        # Streams notice closed browsers at once, so a graceful shutdown does not wait
        # for idle ones.
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
        raise AssertionError("the server did not shut down gracefully within 15 s") from None


def prepare(url: str) -> None:
    """What an admin would do first: a wrap-up code. (The demo's agents have the
    language its queues require already.)"""
    admin = httpx.Client(base_url=url, timeout=30)
    done = admin.post(
        "/api/v1/auth/login", json={"username": "admin", "password": login_of("admin").password}
    )
    admin.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    skills = {s["name"]: s["id"] for s in admin.get("/api/v1/skills").json()["items"]}
    mandarin = next(v for k, v in skills.items() if "Mandarin" in k)
    agents = [u for u in admin.get("/api/v1/users").json()["items"] if u["role"] == "agent"]
    assert agents and all(mandarin in u["skills"] for u in agents), "seeded with the demo"
    code = admin.post(
        "/api/v1/desktop/wrap-up-codes", json={"code": "SOLVED", "label": "Solved 已解决"}
    )
    assert code.status_code == 201, code.text


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


@pytest.fixture
def opened(browser: Any) -> Iterator[list[Any]]:
    """Browser contexts of one test, closed whatever happens (a context left open keeps
    its WebSocket, and the server waits for it on shutdown)."""
    contexts: list[Any] = []
    yield contexts
    for context in contexts:
        context.close()


def signed_in(
    browser: Any, url: str, username: str, locale: str, path: str, opened: list[Any]
) -> Any:
    context = browser.new_context(
        locale=locale,
        extra_http_headers={"Accept-Language": locale},
        viewport={"width": 1440, "height": 900},
    )
    opened.append(context)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", login_of(username).password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/home")  # signed in (the session cookie is set)
    page.goto(f"{url}{path}")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def wait_live(page: Any) -> None:
    page.wait_for_function("() => window.jietong && window.jietong.live.status === 'live'")


def customer_writes(
    browser: Any, url: str, locale: str, run: dict[str, str], opened: list[Any]
) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    opened.append(context)
    page = context.new_page()
    page.goto(f"{url}/api/v1/channels/chat/demo")
    launcher = page.locator(f"{WIDGET} .launcher")
    expect(launcher).not_to_be_empty()  # the widget is ready
    launcher.click()
    page.locator(f"{WIDGET} form.prechat input[name=name]").fill(run["customer"])
    page.locator(f"{WIDGET} form.prechat button[type=submit]").click()
    say(page, run["question"])
    expect(page.locator(f"{WIDGET} .message.visitor:not(.pending) .text")).to_have_text(
        [run["question"]]
    )
    return page


def say(customer: Any, text: str) -> None:
    composer = customer.locator(f"{WIDGET} textarea.text")
    composer.fill(text)
    composer.press("Enter")


# The page's state equals a snapshot taken now, once it has applied what that snapshot
# reflects (events keep coming: the state may be a moment behind the snapshot).
SAME_AS_FRESH_SNAPSHOT = """async () => {
    const pick = (s) => JSON.stringify([s.agents, s.offers, s.work, s.kpi]);
    let last = null;
    for (let i = 0; i < 50; i += 1) {
        const fresh = (await (await fetch('/api/v1/desktop/snapshot')).json()).state;
        const mine = window.jietong.live.state;
        if (pick(mine) === pick(fresh)) return true;
        last = [mine.as_of, fresh.as_of, pick(mine), pick(fresh)];
        await new Promise((done) => setTimeout(done, 100));
    }
    return last;
}"""


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_customer_agent_and_supervisor_in_real_browsers(
    browser: Any, demo_url: str, locale: str, opened: list[Any]
) -> None:
    from playwright.sync_api import expect

    run = RUNS[locale]
    agent = signed_in(browser, demo_url, run["agent"], locale, "/desk", opened)
    expect(agent.locator("html")).to_have_attribute("lang", locale)
    wait_live(agent)
    agent.select_option("#presence-state", "available")
    expect(agent.locator("#presence-now")).to_have_text(run["available"])
    shot(agent, f"desk-{locale}-available")

    customer = customer_writes(browser, demo_url, locale, run, opened)
    offer = agent.locator(".offer")
    expect(offer).to_contain_text(run["customer"], timeout=15_000)
    expect(offer.locator("[data-countdown]")).not_to_be_empty()
    shot(agent, f"desk-{locale}-offer")
    offer.locator("button[data-accept]").click()
    expect(agent.locator("#thread")).to_contain_text(run["question"])
    expect(agent.locator("#customer")).to_contain_text(run["customer"])

    agent.fill("#composer-text", run["reply"])
    agent.press("#composer-text", "Control+Enter")
    expect(customer.locator(f"{WIDGET} .message.agent .text")).to_have_text([run["reply"]])
    expect(agent.locator("#thread .msg-outbound")).to_contain_text(run["reply"])
    shot(agent, f"desk-{locale}-conversation")
    shot(customer, f"desk-{locale}-customer-widget")

    # A network drop: the customer writes while the desk is away; on resume the message
    # shows once and the state equals a fresh snapshot.
    applied = agent.evaluate("() => window.jietong.live.applied")
    agent.evaluate("() => window.jietong.live.drop()")
    say(customer, run["later"])
    wait_live(agent)
    expect(agent.locator("#thread .msg-inbound .msg-body", has_text=run["later"])).to_have_count(1)
    assert agent.evaluate("() => window.jietong.live.applied") > applied
    same = agent.evaluate(SAME_AS_FRESH_SNAPSHOT)
    if same is not True:
        mine, fresh = json.loads(same[2]), json.loads(same[3])
        raise AssertionError(f"mine={mine}\nfresh={fresh}")

    supervisor = signed_in(browser, demo_url, "supervisor", locale, "/wallboard", opened)
    wait_live(supervisor)
    general = supervisor.locator(".tile", has_text="General")
    expect(general.locator("[data-f=volume]")).not_to_have_text("0 / 0")
    answered = int(general.locator("[data-f=volume]").inner_text().split("/")[1])
    assert answered >= 1
    expect(supervisor.locator("#agent-rows")).to_contain_text(
        login_of(run["agent"]).username.capitalize()
    )
    expect(supervisor.locator(".metric dt").first).to_be_visible()
    expect(supervisor.locator("#tiles")).to_contain_text(run["answered_label"])
    expect(supervisor.locator("#chart-volume svg rect.bar-answered").first).to_be_attached()
    shot(supervisor, f"wallboard-{locale}")
    name = login_of(run["agent"]).username.capitalize()
    supervisor.locator("#agent-rows tr", has_text=name).locator("button").click()
    manage = supervisor.locator("dialog.act-dialog")
    expect(manage.locator("select")).to_be_visible()
    expect(manage.locator("p.supervise")).to_have_count(0)  # a chat: no call to listen to
    supervisor.keyboard.press("Escape")
    expect(manage).to_have_count(0)
    supervisor.click("#big-screen")
    expect(supervisor.locator("body")).to_have_class("dsk dsk-wallboard big")
    shot(supervisor, f"wallboard-{locale}-big")

    agent.click("#conv-actions button[data-action=end]")
    wrapup = agent.locator("#wrapup-form")
    expect(wrapup).to_be_visible()
    wrapup.locator("select[name=code_id]").select_option(label="SOLVED · Solved 已解决")
    wrapup.locator("textarea[name=note]").fill("ok")
    shot(agent, f"desk-{locale}-wrapup")
    wrapup.locator("button[type=submit]").click()
    expect(agent.locator("#tabs li")).to_have_count(0)
    agent.select_option("#presence-state", "not_ready")
    for page in (agent, supervisor):
        assert not page.errors, page.errors


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_admin_console_sections_and_validation(
    browser: Any, demo_url: str, locale: str, opened: list[Any]
) -> None:
    from playwright.sync_api import expect

    admin = signed_in(browser, demo_url, "admin", locale, "/admin#users", opened)
    expect(admin.locator(".admin-table")).to_contain_text("agent1")
    shot(admin, f"admin-{locale}-users")
    admin.goto(f"{demo_url}/admin#canned")
    form = admin.locator("form.admin-form")
    form.locator("input[name=title]").fill("Greeting")
    form.locator("input[name=shortcut]").fill("Not OK")  # refused: upper case and a space
    form.locator("textarea[name=body]").fill("您好 {customer.name}")
    form.locator("button[type=submit]").click()
    shortcut_error = form.locator("[data-field-error=shortcut]")
    expect(shortcut_error).not_to_be_empty()
    # The server answers in the screen's language (the page sends it as Accept-Language).
    expect(shortcut_error).to_contain_text("格式不正确" if locale == "zh-CN" else "pattern")
    form.locator("input[name=shortcut]").fill("hello")
    form.locator("button[type=submit]").click()
    expect(admin.locator(".admin-table")).to_contain_text("/hello")
    admin.goto(f"{demo_url}/admin#channels")
    row = admin.locator(".admin-table tr", has_text="Website chat")
    row.locator(".row-actions button").last.click()
    expect(admin.locator("pre[data-embed]")).to_contain_text("jietong-chat.js")
    shot(admin, f"admin-{locale}-channels")
    admin.keyboard.press("Escape")
    admin.goto(f"{demo_url}/admin#hours")
    expect(admin.locator(".admin-table")).to_contain_text("General")
    admin.locator(".admin-table tr", has_text="Billing").locator("button").last.click()
    hours = admin.locator("form.hours-form")
    hours.locator("input[name=always]").uncheck()
    hours.locator("input[name=timezone]").fill("Mars/Olympus_Mons")  # refused by the server
    hours.locator("input[name=day1]").fill("09:00-18:00")
    hours.locator("textarea[name=closed_dates]").fill("2026-12-25")
    hours.locator("button[type=submit]").click()
    expect(hours.locator(".error")).not_to_be_empty()
    if locale == "zh-CN":
        expect(hours.locator(".error")).to_contain_text("值无效")
    shot(admin, f"admin-{locale}-hours-refused")
    hours.locator("input[name=timezone]").fill("Asia/Shanghai")
    hours.locator("button[type=submit]").click()
    expect(hours).to_have_count(0)  # saved: the dialog closed
    shot(admin, f"admin-{locale}-hours")
    admin.goto(f"{demo_url}/admin#tokens")
    tokens = admin.locator("form.admin-form")
    tokens.locator("input[name=name]").fill(f"wallboard screen {locale}")
    tokens.locator("select[name=scopes]").select_option(["interactions:read"])
    tokens.locator("button[type=submit]").click()
    issued = admin.locator("dialog pre.snippet")
    expect(issued).not_to_be_empty()  # the secret, shown this once
    shot(admin, f"admin-{locale}-token-issued")
    admin.keyboard.press("Escape")
    expect(admin.locator(".admin-table")).to_contain_text(f"wallboard screen {locale}")
    assert not admin.errors, admin.errors
    # Clean up so the other locale's run starts alike.
    http = httpx.Client(base_url=demo_url)
    done = http.post(
        "/api/v1/auth/login", json={"username": "admin", "password": login_of("admin").password}
    )
    http.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    for canned in http.get("/api/v1/desktop/canned-responses").json():
        http.delete(f"/api/v1/desktop/canned-responses/{canned['id']}")


class MailSink:
    """An SMTP relay for the demo's mailbox: keeps each mail with its envelope recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return "250 OK"


def admin_client(url: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=30)
    done = http.post(
        "/api/v1/auth/login", json={"username": "admin", "password": login_of("admin").password}
    )
    http.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    return http


def email_for_agent(admin: httpx.Client, agent: str, subject: str) -> str:
    """An email conversation with 王芳 in the General queue, connected to `agent`."""
    queue = next(q for q in admin.get("/api/v1/queues").json()["items"] if q["name"] == "General")
    customer = next(
        c
        for c in admin.get("/api/v1/customers", params={"q": "王芳"}).json()["items"]
        if c["display_name"] == "王芳"
    )
    made = admin.post(
        "/api/v1/interactions",
        json={
            "channel": "email",
            "direction": "inbound",
            "queue_id": queue["id"],
            "customer_id": customer["id"],
            "subject": subject,
        },
    )
    assert made.status_code == 201, made.text
    interaction_id: str = made.json()["id"]
    moves = f"/api/v1/interactions/{interaction_id}/transitions"
    queued = admin.post(moves, json={"trigger": "enqueue"})
    assert queued.status_code in (200, 409), queued.text  # 409: routing queued it first
    user = next(u for u in admin.get("/api/v1/users").json()["items"] if u["username"] == agent)
    offered = admin.post(moves, json={"trigger": "offer", "assigned_user_id": user["id"]})
    assert offered.status_code == 200, offered.text
    return interaction_id


def test_an_email_reply_from_the_desk_carries_rich_text_cc_and_a_file(
    browser: Any, demo_url: str, opened: list[Any]
) -> None:
    """The desk's email composer, end to end: rich text, CC and a file go out as one
    mail through the demo mailbox's relay (an aiosmtpd sink set as its SMTP host)."""
    from aiosmtpd.controller import Controller
    from playwright.sync_api import expect

    sink = MailSink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        admin = admin_client(demo_url)
        [mailbox] = admin.get("/api/v1/channel-accounts", params={"channel": "email"}).json()
        settings = {"smtp_host": "127.0.0.1", "smtp_port": str(relay.port), "smtp_security": "none"}
        patched = admin.patch(
            f"/api/v1/channel-accounts/{mailbox['id']}", json={"settings": settings}
        )
        assert patched.status_code == 200, patched.text
        interaction_id = email_for_agent(admin, "agent1", "Invoice for November")
        agent = signed_in(
            browser, demo_url, "agent1", "en", f"/desk/conversations/{interaction_id}", opened
        )
        wait_live(agent)
        agent.locator(".offer button[data-accept]").click()
        expect(agent.locator("#email-fields")).to_be_visible()
        agent.fill("#composer input[name=cc]", "accountant@example.cn")
        agent.locator("#rich").fill("Dear Ms Wang, the invoice is attached.")
        agent.set_input_files(
            "#composer input[name=files]",
            {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 demo"},
        )
        shot(agent, "desk-en-email-composer")
        agent.click("#composer-send")
        expect(agent.locator("#thread .msg-outbound")).to_contain_text("the invoice is attached")
        expect(agent.locator("#composer-error")).to_be_empty()

        # The demo's delivery worker sends it. The relay may also get earlier replies of
        # this demo server that were waiting to be retried (their relay was unreachable
        # until the mailbox pointed here): this test's mail is the one with its subject.
        def attached(raw: bytes) -> list[str | None]:
            mail = message_from_bytes(raw, policy=email_policy.default)
            assert isinstance(mail, EmailMessage)
            return [a.get_filename() for a in mail.iter_attachments()]

        ours: list[tuple[list[str], bytes]] = []
        for _ in range(200):
            ours = [m for m in sink.received if "invoice.pdf" in attached(m[1])]
            if ours:
                break
            agent.wait_for_timeout(100)
        assert ours, f"{len(sink.received)} mails, none with the file"
        [(recipients, raw)] = ours
        assert sorted(recipients) == ["accountant@example.cn", "wang.fang@example.cn"]
        mail = message_from_bytes(raw, policy=email_policy.default)
        assert isinstance(mail, EmailMessage)
        assert mail["Cc"] == "accountant@example.cn"
        rich = mail.get_body(("html",))
        assert rich is not None and "the invoice is attached" in rich.get_content()
        assert [a.get_filename() for a in mail.iter_attachments()] == ["invoice.pdf"]
        shot(agent, "desk-en-email-sent")

        # Another conversation, accepted (it becomes the open tab); the customer of the
        # first one, no longer looked at, writes: its tab is marked.
        other = email_for_agent(admin, "agent1", "Second question")
        agent.locator(".offer button[data-accept]").click()
        expect(agent.locator(f'#tabs li[data-key="{other}"]')).to_have_attribute(
            "aria-selected", "true"
        )
        expect(agent.locator("#conv-title")).to_contain_text("Second question")
        hidden = interaction_id
        tab = agent.locator(f'#tabs li[data-key="{hidden}"]')
        expect(tab).to_have_attribute("data-unread", "false")
        wrote = admin.post(
            f"/api/v1/interactions/{hidden}/messages",
            json={
                "body_text": "还有一个问题。我的另一个号码是 139 1234 5678",
                "direction": "inbound",
                "author_kind": "customer",
            },
        )
        assert wrote.status_code == 201, wrote.text
        expect(tab).to_have_attribute("data-unread", "true")
        expect(tab.locator("[data-unread]")).to_have_text("1")
        shot(agent, "desk-en-unread-tab")
        tab.click()
        expect(tab).to_have_attribute("data-unread", "false")

        # Alt+K opens a case from the conversation; linked, the customer panel counts it.
        agent.keyboard.press("Alt+KeyK")
        case_form = agent.locator("#case-form")
        expect(case_form).to_be_visible()
        expect(case_form.locator("input[name=subject]")).to_have_value("Invoice for November")
        case_form.locator("button[type=submit]").click()
        expect(case_form).to_be_hidden()
        shot(agent, "desk-en-case-linked")
        cases = admin.get("/api/v1/cases", params={"limit": 50}).json()["items"]
        linked = [c for c in cases if interaction_id in c.get("interaction_ids", [])]
        assert [c["subject"] for c in linked] == ["Invoice for November"], cases

        # The number she wrote is 李伟's: the panel suggests the merge; confirmed, his
        # contact points are hers.
        suggestion = agent.locator(".cust-merges li", has_text="李伟")
        expect(suggestion).to_contain_text("+8613912345678")
        agent.once("dialog", lambda dialog: dialog.accept())
        suggestion.locator("button").click()
        expect(agent.locator(".cust-merges li", has_text="李伟")).to_have_count(0)
        expect(agent.locator("#customer")).to_contain_text("+8613912345678")
        shot(agent, "desk-en-merged")
        assert not agent.errors, agent.errors
    finally:
        relay.stop()
