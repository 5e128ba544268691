"""Benchmark: the agent desk with 200 open conversations and the wallboard with 500 agents,
measured in a real Chromium (Playwright, the browser the e2e tests use).

Run:  .venv/bin/python bench/desktop_render.py [--events 300] [--chromium /usr/bin/chromium]

What is measured:

* A real server (`jietong demo`) serves the pages, scripts and sign-in. The screens'
  snapshots are replaced (Playwright routes) by large synthetic ones of the same shape:
  wallboard: 500 agents in 5 teams, 20 queues, 1,500 open interactions, 100 ringing
  offers, today's figures so far; desk: 200 open conversations of the signed-in agent
  (and 200 more waiting in the team), with their cards. The real modules render them.
* first render: navigation start to the screen fully drawn (every agent row, every tab),
  page load, module loading and snapshot included.
* re-render: a fresh snapshot applied and drawn again (`live.reload()` + a frame), median.
* apply an event: one stream event through the reducer and the screen's render, run
  synchronously (`live.receive(event)` then `render()`), median and p95 over `--events`
  events of the kinds a busy floor sends (agent states, lifecycle moves, messages).
* event to screen, end to end: on the real demo data, an agent's state is changed through
  the API and the time until the wallboard shows it (server, relay, stream, reducer, DOM).

Reference, in the same run: the same screens at 1/20 the size (25 agents, 75 open
interactions; 25 conversations), so the cost of size shows apart from the machine's speed.

Last line, machine-readable:
RESULT desktop wall_first_ms=... wall_rerender_ms=... wall_event_p50_ms=...
wall_event_p95_ms=... desk_first_ms=... desk_rerender_ms=... desk_event_p50_ms=...
desk_event_p95_ms=... e2e_p50_ms=... e2e_p95_ms=... ref_wall_first_ms=...
ref_wall_event_p50_ms=... ref_desk_first_ms=... ref_desk_event_p50_ms=...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUEUES, TEAMS = 20, 5


@dataclass(frozen=True)
class Size:
    """How big the synthetic floor is: the issue's size, and a small reference measured
    in the same run (so a slow machine shows as slow in both, not as a regression)."""

    agents: int
    open_work: int
    desk_conversations: int
    team_waiting: int


FULL = Size(agents=500, open_work=1500, desk_conversations=200, team_waiting=200)
REFERENCE = Size(agents=25, open_work=75, desk_conversations=25, team_waiting=10)
STATES = ["available", "busy", "busy", "wrap_up", "not_ready", "ringing"]
LOGINS = {"supervisor": "demo-super-2026", "agent1": "demo-agent1-2026", "admin": "demo-admin-2026"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIETONG_")}
    env.update(
        JIETONG_DATA_DIR=data_dir,
        JIETONG_SECRET_KEY="bench",
        JIETONG_LOG_LEVEL="WARNING",
        JIETONG_SMTP_ENABLED="false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "jietong.app.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the demo server did not start")


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# -- synthetic snapshots (the shape of /api/v1/desktop/snapshot) ---------------------------


def directory(rng: random.Random, size: Size) -> dict[str, Any]:
    teams = {f"t{i:02d}": {"name": f"Team {i}", "kind": "team"} for i in range(TEAMS)}
    users = {
        f"u{i:04d}": {
            "name": f"Agent {i:03d} 坐席",
            "role": "agent",
            "team_ids": [f"t{i % TEAMS:02d}"],
        }
        for i in range(size.agents)
    }
    queues = {
        f"q{i:02d}": {
            "name": f"Queue {i:02d}",
            "team_id": f"t{i % TEAMS:02d}",
            "channels": ["chat", "email", "call"],
            "target_answer_seconds": 20,
            "target_service_level": 0.8,
        }
        for i in range(QUEUES)
    }
    return {"users": users, "queues": queues, "teams": teams}


def entry(
    rng: random.Random, state: str, queue: str, agent: str | None, now: int
) -> dict[str, Any]:
    queued = now - rng.randint(5, 600) * 1_000_000
    answered = (
        queued + rng.randint(1, 60) * 1_000_000 if state in ("connected", "wrap_up") else None
    )
    return {
        "channel": rng.choice(["chat", "email", "sms", "wechat"]),
        "direction": "inbound",
        "state": state,
        "queue_id": queue,
        "routed_queue_id": queue,
        "assigned_user_id": agent if state != "queued" else None,
        "queued_us": queued,
        "answered_us": answered,
        "ended_us": answered + 1_000_000 if state == "wrap_up" and answered else None,
        "inbound": rng.randint(1, 8),
        "outbound": rng.randint(0, 8),
        "notes": rng.randint(0, 2),
    }


def day_of(now: datetime) -> dict[str, Any]:
    local = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    start = datetime(local.year, local.month, local.day, tzinfo=ZoneInfo("Asia/Shanghai"))
    return {
        "day_start_us": micros(start),
        "day_end_us": micros(start + timedelta(days=1)),
        "interval_us": 15 * 60 * 1_000_000,
        "targets": {f"q{i:02d}": 20 for i in range(QUEUES)},
    }


def wallboard_snapshot(rng: random.Random, user_id: str, size: Size) -> dict[str, Any]:
    now = datetime.now(UTC)
    now_us = micros(now)
    work: dict[str, Any] = {}
    offers: dict[str, Any] = {}
    n = size.open_work
    for i in range(n):
        # The full floor's mix: 20% queued, 7% ringing, 13% wrapping up, the rest talking.
        phase = (
            "queued"
            if i < n * 0.2
            else "offered"
            if i < n * 0.267
            else "wrap_up"
            if i < n * 0.4
            else "connected"
        )
        agent = f"u{rng.randrange(size.agents):04d}"
        work[f"w{i:05d}"] = entry(rng, phase, f"q{rng.randrange(QUEUES):02d}", agent, now_us)
        if phase == "offered":
            offers[f"o{i:05d}"] = {
                "interaction_id": f"w{i:05d}",
                "agent_id": agent,
                "queue_id": work[f"w{i:05d}"]["queue_id"],
                "channel": "chat",
                "ring_timeout_seconds": 20,
                "offered_us": now_us - rng.randint(0, 15) * 1_000_000,
            }
    day = day_of(now)
    slots = (now_us - day["day_start_us"]) // day["interval_us"]
    kpi = {
        f"q{q:02d}": {
            str(slot): [
                o := rng.randint(5, 40),
                a := o - rng.randint(0, 3),
                rng.randint(0, a),
                o - a,
                a * 15_000_000,
            ]
            for slot in range(max(0, slots - 48), slots + 1)
        }
        for q in range(QUEUES)
    }
    agents = {
        f"u{i:04d}": {
            "state": rng.choice(STATES),
            "reason": None,
            "since_us": now_us - rng.randint(1, 3600) * 1_000_000,
        }
        for i in range(size.agents)
    }
    state = {
        "as_of": 10**12,  # far ahead: the real stream's events are ignored, not mixed in
        "skip": [],
        "stale": False,
        "user_id": user_id,
        "day": day,
        "agents": agents,
        "offers": offers,
        "work": work,
        "kpi": kpi,
    }
    return snapshot_body("wallboard", state, rng, now_us, size)


def desk_snapshot(rng: random.Random, user_id: str, size: Size) -> dict[str, Any]:
    now_us = micros(datetime.now(UTC))
    work: dict[str, Any] = {}
    for i in range(size.desk_conversations):
        phase = "offered" if i < 5 else "wrap_up" if i < 20 else "connected"
        work[f"d{i:05d}"] = entry(rng, phase, "q00", user_id, now_us)
    for i in range(size.team_waiting):
        work[f"t{i:05d}"] = entry(rng, "queued", "q00", None, now_us)
    state = {
        "as_of": 10**12,
        "skip": [],
        "stale": False,
        "user_id": user_id,
        "day": None,
        "agents": {user_id: {"state": "busy", "reason": None, "since_us": now_us - 60_000_000}},
        "offers": {},
        "work": work,
        "kpi": None,
    }
    return snapshot_body("desk", state, rng, now_us, size)


def snapshot_body(
    view: str, state: dict[str, Any], rng: random.Random, now_us: int, size: Size
) -> dict[str, Any]:
    return {
        "view": view,
        "state": state,
        "directory": directory(rng, size),
        "server_now_us": now_us,
        "timezone": "Asia/Shanghai",
        "org_timezone": "Asia/Shanghai",
    }


def cards_for(url: str) -> list[dict[str, Any]]:
    ids = parse_qs(urlsplit(url).query).get("ids", [])
    return [
        {
            "id": i,
            "channel": "chat",
            "direction": "inbound",
            "subject": f"Order {i[-4:]}",
            "customer_id": None,
            "customer_name": f"客户 {i[-4:]}",
            "vip_tier": "none",
            "queue_id": "q00",
            "team_id": "t00",
            "arrived_at": "2026-11-23T01:00:00+00:00",
            "last_message_at": "2026-11-23T01:01:00+00:00",
            "awaiting_since": "2026-11-23T01:01:00+00:00" if int(i[-1], 16) % 2 else None,
        }
        for i in ids
    ]


# -- events a busy floor sends ---------------------------------------------------------------


def wallboard_events(rng: random.Random, count: int, size: Size) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        seq = 10**12 + 1 + n
        at = datetime.now(UTC).isoformat()
        if n % 2:
            agent = f"u{rng.randrange(size.agents):04d}"
            payload = {
                "agent_id": agent,
                "from_state": "busy",
                "trigger": "x",
                "to_state": rng.choice(STATES),
                "reason": None,
            }
            kind = "AgentStateChanged"
        else:
            interaction = f"w{rng.randrange(size.open_work):05d}"
            payload = {
                "interaction_id": interaction,
                "from_state": "queued",
                "trigger": "offer",
                "to_state": rng.choice(["offered", "connected", "wrap_up", "queued"]),
                "queue_id": f"q{rng.randrange(QUEUES):02d}",
                "assigned_user_id": f"u{rng.randrange(size.agents):04d}",
            }
            kind = "InteractionStateChanged"
        events.append(
            {
                "type": "event",
                "seq": seq,
                "event_id": f"e{n}",
                "event_type": kind,
                "occurred_at": at,
                "payload": payload,
            }
        )
    return events


def desk_events(rng: random.Random, count: int, size: Size) -> list[dict[str, Any]]:
    return [
        {
            "type": "event",
            "seq": 10**12 + 1 + n,
            "event_id": f"e{n}",
            "event_type": "MessageAdded",
            "occurred_at": datetime.now(UTC).isoformat(),
            "payload": {
                "interaction_id": f"d{rng.randrange(20, size.desk_conversations):05d}",
                "message_id": f"m{n}",
                "direction": "inbound",
                "internal": False,
            },
        }
        for n in range(count)
    ]


# -- measuring in the browser ----------------------------------------------------------------

APPLY = """async (events) => {
    const live = window.jietong.live, times = [];
    for (const event of events) {
        const t0 = performance.now();
        live.receive(event);
        window.jietong.render();
        times.push(performance.now() - t0);
        if (times.length % 20 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    return times;
}"""

RERENDER = """async () => {
    const times = [];
    for (let i = 0; i < 5; i += 1) {
        const t0 = performance.now();
        await window.jietong.live.reload();
        window.jietong.render();
        await new Promise((r) => requestAnimationFrame(() => r()));
        times.push(performance.now() - t0);
    }
    return times;
}"""


def sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", LOGINS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/home")


def measure_screen(
    browser: Any,
    url: str,
    username: str,
    path: str,
    make: Any,
    ready: str,
    events: list[dict[str, Any]],
    size: Size,
) -> dict[str, float]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    sign_in(page, url, username)
    me = page.evaluate("async () => (await (await fetch('/api/v1/me')).json()).user_id")
    body = json.dumps(make(random.Random(7), me, size))
    page.route(
        "**/api/v1/desktop/snapshot*",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.route(
        "**/api/v1/desktop/interaction-cards*",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(cards_for(route.request.url)),
        ),
    )
    page.goto(f"{url}{path}")
    page.wait_for_function(ready, timeout=60_000)
    first = page.evaluate("() => performance.now()")
    page.wait_for_timeout(500)  # cards arrive, clocks tick once
    rerender = statistics.median(page.evaluate(RERENDER))
    times = sorted(page.evaluate(APPLY, events))
    context.close()
    return {
        "first": first,
        "rerender": rerender,
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
    }


def end_to_end(browser: Any, url: str, rounds: int = 20) -> list[float]:
    """Agent state changed through the API -> shown on a real wallboard."""
    context = browser.new_context(locale="en", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    sign_in(page, url, "supervisor")
    page.goto(f"{url}/wallboard")
    page.wait_for_function("() => window.jietong && window.jietong.live.status === 'live'")
    agent = httpx.Client(base_url=url, timeout=30)
    done = agent.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": LOGINS["agent1"]}
    )
    agent.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    row = page.locator("#agent-rows tr", has_text="Agent1").locator(".state-chip")
    latencies = []
    for n in range(rounds):
        target = ("available", "Available") if n % 2 == 0 else ("not_ready", "Not ready · Break")
        t0 = time.perf_counter()
        agent.put(
            "/api/v1/agents/me/presence",
            json={"state": target[0], "reason": "break" if target[0] == "not_ready" else None},
        )
        row.filter(has_text=target[1]).wait_for(timeout=10_000)
        latencies.append((time.perf_counter() - t0) * 1000)
    agent.put("/api/v1/agents/me/presence", json={"state": "offline", "reason": None})
    context.close()
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument(
        "--chromium", default=os.environ.get("JIETONG_TEST_CHROMIUM") or "/usr/bin/chromium"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="jt-bench-desk-") as data_dir:
        proc, url = start_demo(data_dir)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=args.chromium,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"],
                )
                wall, desk = {}, {}
                for size in (REFERENCE, FULL):
                    rng = random.Random(11)
                    wall[size] = measure_screen(
                        browser,
                        url,
                        "supervisor",
                        "/wallboard",
                        wallboard_snapshot,
                        "() => document.querySelectorAll('#agent-rows tr').length"
                        f" === {size.agents}",
                        wallboard_events(rng, args.events, size),
                        size,
                    )
                    desk[size] = measure_screen(
                        browser,
                        url,
                        "agent1",
                        "/desk",
                        desk_snapshot,
                        "() => document.querySelectorAll('#tabs li').length"
                        f" === {size.desk_conversations}",
                        desk_events(rng, args.events, size),
                        size,
                    )
                e2e = end_to_end(browser, url)
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    e2e_p50, e2e_p95 = statistics.median(e2e), e2e[int(len(e2e) * 0.95) - 1]
    for size in (REFERENCE, FULL):
        name = "reference" if size is REFERENCE else "full"
        w, d = wall[size], desk[size]
        print(
            f"{name}: wallboard, {size.agents} agents, {QUEUES} queues, "
            f"{size.open_work} open interactions:"
        )
        print(
            f"  first render {w['first']:.0f} ms, re-render {w['rerender']:.1f} ms, "
            f"apply an event p50 {w['p50']:.2f} ms p95 {w['p95']:.2f} ms"
        )
        print(
            f"{name}: desk, {size.desk_conversations} open conversations "
            f"(+{size.team_waiting} waiting in the team):"
        )
        print(
            f"  first render {d['first']:.0f} ms, re-render {d['rerender']:.1f} ms, "
            f"apply an event p50 {d['p50']:.2f} ms p95 {d['p95']:.2f} ms"
        )
    ratio = {k: wall[FULL][k] / max(wall[REFERENCE][k], 0.01) for k in ("first", "p50")}
    desk_ratio = {k: desk[FULL][k] / max(desk[REFERENCE][k], 0.01) for k in ("first", "p50")}
    print(
        f"full vs reference: wallboard first render x{ratio['first']:.1f}, "
        f"event x{ratio['p50']:.1f} ({FULL.agents // REFERENCE.agents}x the agents); "
        "desk first render "
        f"x{desk_ratio['first']:.1f}, event x{desk_ratio['p50']:.1f}"
        f" ({FULL.desk_conversations // REFERENCE.desk_conversations}x the conversations)"
    )
    print(
        f"event to screen (API -> wallboard), {len(e2e)} changes: "
        f"p50 {e2e_p50:.0f} ms, p95 {e2e_p95:.0f} ms"
    )
    w, d = wall[FULL], desk[FULL]
    print(
        f"RESULT desktop wall_first_ms={w['first']:.0f} wall_rerender_ms={w['rerender']:.1f} "
        f"wall_event_p50_ms={w['p50']:.2f} wall_event_p95_ms={w['p95']:.2f} "
        f"desk_first_ms={d['first']:.0f} desk_rerender_ms={d['rerender']:.1f} "
        f"desk_event_p50_ms={d['p50']:.2f} desk_event_p95_ms={d['p95']:.2f} "
        f"e2e_p50_ms={e2e_p50:.0f} e2e_p95_ms={e2e_p95:.0f} "
        f"ref_wall_first_ms={wall[REFERENCE]['first']:.0f} "
        f"ref_wall_event_p50_ms={wall[REFERENCE]['p50']:.2f} "
        f"ref_desk_first_ms={desk[REFERENCE]['first']:.0f} "
        f"ref_desk_event_p50_ms={desk[REFERENCE]['p50']:.2f}"
    )


if __name__ == "__main__":
    main()
