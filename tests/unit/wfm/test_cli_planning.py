"""`jietong wfm plan` from a CSV, through the CLI: summary, JSON, files, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from jietong.app.cli import app
from jietong.app.cli.wfm_planning import parse_open_days

runner = CliRunner()
FAST = ["--interval", "30", "--horizon-days", "2", "--holdout-days", "2", "--country", "none",
        "--shift-hours", "4", "--break-minutes", "0", "--lunch-minutes", "0",
        "--time-limit", "2", "--replications", "3"]  # fmt: skip


@pytest.fixture
def counts_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    lines = ["interval_start,calls"]
    for i in range(21):
        day = dt.datetime(2025, 3, 3) + dt.timedelta(days=i)
        if day.weekday() >= 5:
            continue
        for k in range(8):
            start = day + dt.timedelta(hours=9, minutes=30 * k)
            lines.append(f"{start:%Y-%m-%d %H:%M},{rng.poisson(15 + 3 * (k % 3))}")
    path = tmp_path / "calls.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_plan_prints_a_summary_per_day(counts_csv: Path) -> None:
    result = runner.invoke(app, ["wfm", "plan", "--csv", str(counts_csv), "--aht", "240", *FAST])
    assert result.exit_code == 0, result.output
    assert "Plan per day" in result.stdout
    assert "03-24" in result.stdout and "03-25" in result.stdout
    assert "simulated service level over the plan" in result.stdout
    assert "schedule:" in result.stdout


def test_plan_json_and_files(counts_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.xlsx"
    charts = tmp_path / "charts"
    args = ["wfm", "plan", "--csv", str(counts_csv), "--aht", "240", "--patience", "90", *FAST]
    args += ["--out", str(out), "--plots", str(charts), "--plot-format", "svg", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["replications"] == 3
    assert data["patience_seconds"] == 90
    assert [d["date"] for d in data["days"]] == ["2025-03-24", "2025-03-25"]
    assert {m["model"] for m in data["accuracy"]} >= {"seasonal_naive", "moving_average"}
    for day in data["days"]:
        assert day["required_agent_hours"] <= day["required_agent_hours_with_shrinkage"]
        assert 0 <= day["service_level"]["low"] <= day["service_level"]["mean"] <= 1
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["intervals", "days", "accuracy", "forecast", "shifts", "coverage"]
    assert book["intervals"].max_row == 1 + 2 * 8
    names = sorted(p.name for p in charts.iterdir())
    assert names == ["coverage.svg", "forecast.svg", "service_level.svg"]
    assert all((charts / n).read_bytes().lstrip().startswith(b"<?xml") for n in names)


def test_plan_csv_export_and_no_schedule(counts_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    charts = tmp_path / "charts"
    args = ["wfm", "plan", "--csv", str(counts_csv), "--aht", "240", *FAST, "--no-schedule"]
    result = runner.invoke(app, [*args, "--replications", "0", "--out", str(out),
                                 "--plots", str(charts)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 16
    assert (table["scheduled_agents"] == table["required_with_shrinkage"]).all()
    assert table["sim_service_level"].isna().all()
    # Without a simulation there is no service-level chart.
    assert sorted(p.name for p in charts.iterdir()) == ["coverage.png", "forecast.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either --csv FILE or --from-db"),
        (["--csv", "x.csv", "--from-db"], "either --csv FILE or --from-db"),
        (["--csv", "missing.csv", "--aht", "200"], "no such file"),
        (["--csv", "{csv}"], "give --aht"),
        (["--csv", "{csv}", "--aht", "200", "--interval", "20"], "--interval"),
        (["--csv", "{csv}", "--aht", "200", "--out", "plan.pdf"], "--out"),
        (["--csv", "{csv}", "--aht", "200", "--shrinkage", "1.2"], "shrinkage"),
        (["--csv", "{csv}", "--aht", "-5"], "handle time"),
        (["--csv", "{csv}", "--aht", "200", "--holdout-days", "40"], "not enough history"),
        (["--csv", "{csv}", "--aht", "200", "--shift-hours", "9"], "no allowed shift"),
        (["--csv", "{csv}", "--aht", "200", "--max-abandon", "0.05", "--erlang-c"], "patience"),
        (["--csv", "{csv}", "--aht", "200", "--series", "Billing"], "no series"),
    ],
)
def test_plan_bad_input_exits_2(counts_csv: Path, args: list[str], message: str) -> None:
    filled = [a.replace("{csv}", str(counts_csv)) for a in args]
    result = runner.invoke(app, ["wfm", "plan", *filled])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_plan_from_db_needs_an_existing_organisation(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["wfm", "plan", "--from-db", "--org", "nobody", "--aht", "200"],
        env={"JIETONG_DATA_DIR": str(tmp_path), "JIETONG_DATABASE_URL": ""},
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "days"),
    [("mon-fri", {0, 1, 2, 3, 4}), ("mon-sat", set(range(6))), ("mon,wed, fri", {0, 2, 4}),
     ("sun", {6})],
)  # fmt: skip
def test_open_days(text: str, days: set[int]) -> None:
    assert parse_open_days(text) == days


@pytest.mark.parametrize("text", ["fri-mon", "monday", "mon-xyz"])
def test_bad_open_days(text: str) -> None:
    with pytest.raises(ValueError):
        parse_open_days(text)
