"""`jietong wfm forecast` and `jietong wfm schedule` end to end through the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner

from jietong.app.cli import app

runner = CliRunner()


@pytest.fixture
def counts_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    lines = ["interval_start,calls"]
    for i in range(35):
        day = dt.datetime(2025, 3, 3) + dt.timedelta(days=i)
        if day.weekday() >= 5:
            continue
        for k in range(16):
            start = day + dt.timedelta(hours=9, minutes=30 * k)
            lines.append(f"{start:%Y-%m-%d %H:%M},{rng.poisson(20 + 5 * (k % 4))}")
    path = tmp_path / "calls.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def requirements_csv(tmp_path: Path) -> Path:
    lines = ["interval_start,required"]
    for k in range(16):
        start = dt.datetime(2025, 3, 3, 9) + dt.timedelta(minutes=15 * k)
        lines.append(f"{start:%Y-%m-%d %H:%M},{1 + k // 8}")
    path = tmp_path / "req.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_forecast_json_reports_models_and_choice(counts_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fc.xlsx"
    plot = tmp_path / "fc.svg"
    result = runner.invoke(
        app,
        [
            "wfm",
            "forecast",
            "--csv",
            str(counts_csv),
            "--interval",
            "30",
            "--country",
            "none",
            "--horizon-days",
            "2",
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == 1
    names = [m["name"] for m in data[0]["models"]]
    assert {"seasonal_naive", "moving_average", "level_ets"} <= set(names)
    assert data[0]["chosen_model"] in names
    assert all(m["wape"] is None or m["wape"] >= 0 for m in data[0]["models"])
    assert data[0]["forecast_intervals"] == 2 * 16
    assert openpyxl.load_workbook(out).sheetnames == ["forecast", "accuracy"]
    assert plot.read_bytes().lstrip().startswith(b"<?xml")


def test_forecast_table_output(counts_csv: Path) -> None:
    result = runner.invoke(
        app, ["wfm", "forecast", "--csv", str(counts_csv), "--interval", "30", "--country", "CN"]
    )
    assert result.exit_code == 0, result.output
    assert "chosen model" in result.stdout
    assert "moving_average" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "missing.csv"], "no such file"),
        (["--interval", "7"], "--interval"),
        (["--country", "XX"], "unknown holiday country"),
        (["--plot", "x.gif"], "--plot"),
        (["--holdout-days", "30"], "not enough history"),
    ],
)
def test_forecast_bad_input_exits_2(counts_csv: Path, args: list[str], message: str) -> None:
    base = ["wfm", "forecast", "--csv", str(counts_csv), "--interval", "30"]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_forecast_unreadable_csv_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("interval_start,calls\nnot a time,3\n")
    result = runner.invoke(app, ["wfm", "forecast", "--csv", str(bad)])
    assert result.exit_code == 2
    assert "not a time" in result.stderr


def test_schedule_json_and_outputs(requirements_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.xlsx"
    plot = tmp_path / "plan.png"
    result = runner.invoke(
        app,
        [
            "wfm",
            "schedule",
            "--requirements",
            str(requirements_csv),
            "--shift-hours",
            "4",
            "--break-minutes",
            "0",
            "--lunch-minutes",
            "0",
            "--time-limit",
            "5",
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] in ("optimal", "feasible")
    assert summary["under_agent_intervals"] == 0
    assert summary["shifts"] >= 2
    assert openpyxl.load_workbook(out).sheetnames == ["shifts", "coverage", "summary"]
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_schedule_text_output(requirements_csv: Path) -> None:
    result = runner.invoke(
        app,
        [
            "wfm",
            "schedule",
            "--requirements",
            str(requirements_csv),
            "--shift-hours",
            "4",
            "--time-limit",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "status:" in result.stdout


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("when,agents\n", [], "interval_start"),
        (None, ["--shift-hours", "9"], "no allowed shift"),
        (None, ["--earliest-start", "nine"], "--earliest-start"),
        (None, ["--out", "x.pdf"], "--out"),
    ],
)
def test_schedule_bad_input_exits_2(
    requirements_csv: Path, tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    path = requirements_csv
    if content is not None:
        path = tmp_path / "bad.csv"
        path.write_text(content)
    result = runner.invoke(app, ["wfm", "schedule", "--requirements", str(path), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
