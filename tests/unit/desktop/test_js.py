"""The browser modules' own tests (`node --test tests/js/`) run as part of the suite, and
the figures' definitions agree between kpi.py (snapshots) and kpi.js (the browser)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.web.desktop import kpi
from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[3]


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if REQUIRE_SERVICES:
            pytest.fail("node is required for the browser modules' tests")
        pytest.skip("node not installed")
    return found


def test_node_test_suite_passes() -> None:
    done = subprocess.run(
        [node(), "--test", "tests/js/"], cwd=ROOT, capture_output=True, check=False, timeout=120
    )
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, output[-4000:]
    assert "# fail 0" in output


DAY = kpi.day_of(
    datetime(2026, 11, 23, 9, tzinfo=UTC), ZoneInfo("Asia/Shanghai"), 15, {"q1": 20, "q2": 60}
)
START, END = DAY["day_start_us"], DAY["day_end_us"]
moments = st.integers(min_value=START - 3_600_000_000, max_value=END + 3_600_000_000)
entries = st.fixed_dictionaries(
    {
        "queue_id": st.sampled_from([None, "q1", "q2", "q3"]),
        "routed_queue_id": st.sampled_from([None, None, "q1", "q2"]),
        "state": st.sampled_from(["queued", "connected", "abandoned", "closed", "wrap_up"]),
        "queued_us": st.one_of(st.none(), moments),
        "answer_after_us": st.one_of(st.none(), st.integers(0, 120_000_000)),
    }
)


@settings(max_examples=10, deadline=None)
@given(st.lists(entries, min_size=1, max_size=300))
def test_python_and_javascript_count_the_same(raw: list[dict[str, object]]) -> None:
    rows = []
    for e in raw:
        queued, after = e["queued_us"], e["answer_after_us"]
        answered = None if queued is None or after is None else int(queued) + int(after)  # type: ignore[call-overload]
        rows.append({**e, "answered_us": answered})
    done = subprocess.run(
        [node(), str(ROOT / "tests" / "js" / "kpi_cli.mjs")],
        input=json.dumps({"day": DAY, "entries": rows}).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    from_js = json.loads(done.stdout)
    for row, js in zip(rows, from_js, strict=True):
        part = kpi.contribution(
            queue_id=row["routed_queue_id"] or row["queue_id"],  # type: ignore[arg-type]
            state=str(row["state"]),
            queued_us=row["queued_us"],  # type: ignore[arg-type]
            answered_us=row["answered_us"],  # type: ignore[arg-type]
            day=DAY,
        )
        expected = (
            None if part is None else {"queue": part.queue, "slot": part.slot, "vec": part.vec}
        )
        assert js == expected, row


sms_text = st.text(
    alphabet=st.sampled_from(list("aZ0 @€[]^{}\n\r\f您好😀éΔ~|")),
    max_size=400,
)


@settings(max_examples=10, deadline=None)
@given(st.lists(sms_text, min_size=1, max_size=50))
def test_sms_counter_matches_the_channel(texts: list[str]) -> None:
    from jietong.channels.sms.wire import count_segments

    done = subprocess.run(
        [node(), str(ROOT / "tests" / "js" / "sms_cli.mjs")],
        input=json.dumps(texts).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    for text, js in zip(texts, json.loads(done.stdout), strict=True):
        server = count_segments(text)
        assert (js["encoding"], js["units"], js["segments"]) == (
            server.encoding,
            server.units,
            server.segments,
        ), text
