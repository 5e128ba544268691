"""The interpreter's branch logic, driven by a scripted caller on our own CallAudio port.

The caller's behaviour is a string: a digit is a key press, "." is silence until the
step's time-out, "!" hangs up. A key at the head is pressed during an interruptible
prompt (cutting it short); a non-interruptible prompt leaves it typed ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from jietong.telephony.ivr import schema as s
from jietong.telephony.ivr.demo import demo_flow
from jietong.telephony.ivr.interpreter import IvrContext, IvrOutcome, fill_url, run_flow
from jietong.telephony.ports import CallGone, CallVariables, Recorded
from jietong.wfm.holidays import load_calendar

WEEKDAY_10H_SHANGHAI = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 local
SATURDAY_3H_SHANGHAI = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)  # Sunday 03:00 local
NATIONAL_DAY_10H = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # 2 October, 10:00 local


class ScriptedAudio:
    def __init__(self, script: str) -> None:
        self.script = list(script)
        self.heard: list[str] = []  # "<language>/<text>" of every prompt played
        self.recorded: list[Path] = []

    def _head(self) -> str | None:
        if self.script and self.script[0] == "!":
            raise CallGone("caller hung up")
        return self.script[0] if self.script else None

    async def play(self, prompt: Path, *, interruptible: bool = True) -> str | None:
        self._head()
        self.heard.append(f"{prompt.parent.name}/{prompt.name}")
        head = self._head()
        if interruptible and head is not None and head not in ".!":
            return self.script.pop(0)
        return None

    async def collect(
        self,
        *,
        max_digits: int,
        first_digit_timeout_s: float,
        inter_digit_timeout_s: float,
        terminator: str | None = "#",
        already: str = "",
    ) -> str:
        digits = already
        while len(digits) < max_digits:
            head = self._head()
            if head is None:
                return digits
            self.script.pop(0)
            if head == ".":
                return digits
            if head == terminator:
                return digits
            digits += head
        return digits

    async def record(self, path: Path, *, max_seconds: float, beep: bool = True) -> Recorded:
        self._head()
        self.recorded.append(path)
        if self.script and self.script[0] == "#":
            self.script.pop(0)
        return Recorded(path, 3.0)

    async def music(self, *, on: bool) -> None:
        self._head()


class TextPrompts:
    """Prompts as paths naming their language and text (no audio needed here)."""

    async def resolve(self, prompt: s.Prompt, language: str, variables: Mapping[str, str]) -> Path:
        texts = {str(k): v for k, v in [*prompt.text.items(), *prompt.file.items()]}
        text = texts[language]
        for name, value in variables.items():
            text = text.replace("{" + name + "}", value)
        return Path("/prompts") / language / text


def run(
    flow: s.Flow,
    script: str,
    *,
    at: datetime = WEEKDAY_10H_SHANGHAI,
    http: httpx.AsyncClient | None = None,
    caller: str = "+8613812345678",
) -> tuple[IvrOutcome, ScriptedAudio, list[tuple[str, str]]]:
    audio = ScriptedAudio(script)
    visits: list[tuple[str, str]] = []

    async def on_node(node: str, step: str) -> None:
        visits.append((node, step))

    ctx = IvrContext(
        audio=audio, prompts=TextPrompts(), caller=caller, recordings_dir=Path("/rec"),
        now=lambda: at, http=http, on_node=on_node,
    )  # fmt: skip
    return asyncio.run(run_flow(flow, ctx)), audio, visits


def test_demo_flow_english_billing() -> None:
    outcome, audio, visits = run(demo_flow(), "21")
    assert outcome.kind == "queue" and outcome.target == "billing"
    assert outcome.variables.language == "en"
    assert outcome.path == ("language", "hours", "main", "billing")
    assert [v[0] for v in visits] == list(outcome.path)
    assert visits[1] == ("hours", "hours")
    # The language prompt was cut short in Mandarin? No: the caller pressed 2 during the
    # first (Mandarin) prompt; from then on every prompt is English.
    assert audio.heard[0].startswith("zh-CN/")
    assert all(h.startswith("en/") for h in audio.heard[1:])


def test_demo_flow_mandarin_by_default_and_operator_on_zero() -> None:
    outcome, audio, _ = run(demo_flow(), "..0")
    assert outcome.kind == "queue" and outcome.target == "operator"
    assert outcome.variables.language == "zh-CN"
    # Both language prompts were played before the time-out chose the default.
    assert audio.heard[0].startswith("zh-CN/") and audio.heard[1].startswith("en/")


def test_demo_flow_outside_hours_takes_a_voicemail() -> None:
    outcome, audio, _ = run(demo_flow(), "1#", at=SATURDAY_3H_SHANGHAI)
    assert outcome.kind == "voicemail"
    assert outcome.recording is not None and outcome.recording.path == audio.recorded[0]
    assert outcome.path == ("language", "hours", "closed")


def test_demo_flow_on_a_public_holiday_takes_the_holiday_branch() -> None:
    outcome, _, _ = run(demo_flow(), "1", at=NATIONAL_DAY_10H)
    assert outcome.path[-1] == "holiday" and outcome.kind == "voicemail"


def test_a_makeup_workday_is_open() -> None:
    makeup = sorted(load_calendar("CN", [2026]).makeup_workdays)
    assert makeup, "the CN calendar knows 2026's makeup workdays"
    day = makeup[0]
    assert day.weekday() >= 5  # a weekend day, worked
    at = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    outcome, _, _ = run(demo_flow(), "12", at=at)
    assert outcome.kind == "queue" and outcome.target == "general"


def test_menu_retries_invalid_and_silent_then_fails_over() -> None:
    outcome, audio, _ = run(demo_flow(), "19.7")
    assert outcome.target == "operator"  # on_failure after 1 + 2 retries
    complaints = [h for h in audio.heard if "输入有误" in h or "没有收到" in h]
    assert complaints == ["zh-CN/输入有误。", "zh-CN/我们没有收到您的选择。"]


def test_a_hang_up_anywhere_is_an_abandon_with_the_path_so_far() -> None:
    outcome, _, visits = run(demo_flow(), "1!")
    assert outcome.kind == "abandoned"
    assert outcome.path == ("language", "hours", "main")
    assert visits[-1] == ("main", "menu")


def _prompt(text: str) -> dict[str, object]:
    return {"text": {"zh-CN": text, "en": text}}


def _flow(nodes: dict[str, object], start: str = "a") -> s.Flow:
    return s.Flow.model_validate({"start": start, "nodes": nodes})


def test_collect_with_terminator_and_typed_ahead_digits() -> None:
    flow = _flow(
        {
            "a": {"type": "play", "prompt": _prompt("hello"), "next": "b"},
            "b": {
                "type": "collect", "prompt": _prompt("order number"), "variable": "order",
                "min_digits": 3, "max_digits": 8, "next": "c", "on_failure": "d",
                "invalid": _prompt("too short"),
            },
            "c": {"type": "transfer", "number": "+862100000000"},
            "d": {"type": "hangup"},
        }
    )  # fmt: skip
    outcome, audio, _ = run(flow, "12#4567#")
    assert outcome.kind == "transfer" and outcome.target == "+862100000000"
    assert outcome.variables.values["order"] == "4567"
    assert "zh-CN/too short" in audio.heard
    outcome, _, _ = run(flow, "1#2#3#")
    assert outcome.kind == "hangup" and "order" not in outcome.variables.values


def test_callback_defaults_to_the_caller_and_may_use_a_collected_number() -> None:
    nodes: dict[str, object] = {
        "a": {"type": "callback", "prompt": _prompt("we will call you")},
    }
    outcome, _, _ = run(_flow(nodes), "", caller="+8613900000001")
    assert outcome.kind == "callback" and outcome.target == "+8613900000001"
    nodes = {
        "a": {
            "type": "collect", "prompt": _prompt("number"), "variable": "phone",
            "max_digits": 11, "next": "b", "on_failure": "b",
        },
        "b": {"type": "callback", "prompt": _prompt("ok"), "number_variable": "phone"},
    }  # fmt: skip
    outcome, _, _ = run(_flow(nodes), "13700000000")
    assert outcome.target == "13700000000"


class _BackOffice(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        if self.path.startswith("/orders/"):
            order = self.path.rsplit("/", 1)[1]
            body = b'{"status": "shipped", "eta": 2, "order": "%s"}' % order.encode()
            self.send_response(200)
        else:
            body = b'{"error": "no"}'
            self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (the time-out test)
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def back_office() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BackOffice)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _lookup_flow(url: str, timeout_s: float = 2.0) -> s.Flow:
    return _flow(
        {
            "a": {
                "type": "collect", "prompt": _prompt("order"), "variable": "order",
                "max_digits": 6, "next": "b", "on_failure": "fail",
            },
            "b": {
                "type": "lookup", "url": url, "timeout_s": timeout_s,
                "results": {"status": "status", "eta_days": "eta"},
                "next": "say", "on_failure": "fail",
            },
            "say": {"type": "hangup", "prompt": _prompt("status {status} in {eta_days} days")},
            "fail": {"type": "queue", "queue_id": "general"},
        }
    )  # fmt: skip


def test_lookup_puts_the_answer_into_variables(back_office: str) -> None:
    async def scenario() -> tuple[IvrOutcome, ScriptedAudio]:
        async with httpx.AsyncClient() as http:
            audio = ScriptedAudio("123#")
            ctx = IvrContext(
                audio, TextPrompts(), "+86", Path("/r"), lambda: WEEKDAY_10H_SHANGHAI, http
            )
            return await run_flow(_lookup_flow(back_office + "/orders/{order}"), ctx), audio

    outcome, audio = asyncio.run(scenario())
    assert outcome.kind == "hangup"
    assert outcome.variables.values == {"order": "123", "status": "shipped", "eta_days": "2"}
    assert audio.heard[-1] == "zh-CN/status shipped in 2 days"


@pytest.mark.parametrize("path", ["/broken/{order}", "/slow/orders/{order}"])
def test_a_failing_or_slow_lookup_takes_the_failure_branch(back_office: str, path: str) -> None:
    async def scenario() -> IvrOutcome:
        async with httpx.AsyncClient() as http:
            ctx = IvrContext(
                ScriptedAudio("9#"),
                TextPrompts(),
                "+86",
                Path("/r"),
                lambda: WEEKDAY_10H_SHANGHAI,
                http,
            )
            return await run_flow(_lookup_flow(back_office + path, timeout_s=0.5), ctx)

    outcome = asyncio.run(scenario())
    assert outcome.kind == "queue" and outcome.target == "general"
    assert "status" not in outcome.variables.values


def test_an_unreachable_back_office_takes_the_failure_branch() -> None:
    async def scenario() -> IvrOutcome:
        async with httpx.AsyncClient() as http:
            ctx = IvrContext(
                ScriptedAudio("9#"),
                TextPrompts(),
                "+86",
                Path("/r"),
                lambda: WEEKDAY_10H_SHANGHAI,
                http,
            )
            return await run_flow(_lookup_flow("http://127.0.0.1:9/orders/{order}"), ctx)

    assert asyncio.run(scenario()).kind == "queue"


def test_caller_digits_cannot_change_the_lookup_url_structure() -> None:
    url = fill_url("https://crm.example/orders/{order}?lang={language}", {"order": "../admin?x=1#"})
    assert url == "https://crm.example/orders/..%2Fadmin%3Fx%3D1%23?lang="


def test_a_prompt_that_cannot_be_produced_is_skipped_not_fatal() -> None:
    class Failing(TextPrompts):
        async def resolve(
            self, prompt: s.Prompt, language: str, variables: Mapping[str, str]
        ) -> Path:
            raise RuntimeError("espeak-ng missing")

    audio = ScriptedAudio("2")
    ctx = IvrContext(audio, Failing(), "+86", Path("/r"), lambda: WEEKDAY_10H_SHANGHAI)
    outcome = asyncio.run(run_flow(demo_flow(), ctx, CallVariables()))
    # No prompt played, the caller still reached a queue (language by key 2, then menu 2).
    assert outcome.kind == "queue" and audio.heard == []


def test_a_runaway_flow_is_stopped() -> None:
    flow = _flow(
        {"a": {"type": "menu", "prompt": _prompt("x"), "options": {"1": "a"}, "on_failure": "a",
               "retries": 0}}
    )  # fmt: skip
    audio = ScriptedAudio("")
    ctx = IvrContext(
        audio, TextPrompts(), "+86", Path("/r"), lambda: WEEKDAY_10H_SHANGHAI, max_steps=20
    )
    outcome = asyncio.run(run_flow(flow, ctx))
    assert outcome.kind == "hangup" and len(outcome.path) == 20
