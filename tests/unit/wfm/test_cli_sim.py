"""`jietong wfm simulate`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jietong.app.cli import app

runner = CliRunner()
BASE = ["wfm", "simulate", "--calls-per-hour", "240", "--aht", "180", "--agents", "14"]


def test_prints_overall_figures_with_confidence_intervals() -> None:
    result = runner.invoke(app, [*BASE, "--patience", "90", "--hours", "2", "--replications", "3"])
    assert result.exit_code == 0, result.output
    for label in ("Service level", "ASA (answered)", "Abandon rate", "Occupancy", "Mean queue"):
        assert label in result.output
    assert "12.00 erlangs on 14 agents" in result.output
    assert "95% CI" in result.output


def test_json_output_is_reproducible_with_a_seed() -> None:
    args = [*BASE, "--hours", "1", "--replications", "3", "--seed", "7", "--json"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert first.output == second.output
    assert data["replications"] == 3
    assert len(data["per_interval"]) == 4
    sl = data["overall"]["service_level"]
    assert sl["low"] <= sl["mean"] <= sl["high"]
    assert data["overall"]["abandon_rate"]["mean"] == 0  # no --patience: nobody abandons


def test_callbacks_and_per_interval_table() -> None:
    args = [*BASE, "--patience", "60", "--hours", "1", "--replications", "2"]
    result = runner.invoke(app, [*args, "--callback-threshold", "0", "--per-interval"])
    assert result.exit_code == 0, result.output
    assert "Took a callback" in result.output
    assert "Per interval" in result.output and "00:45" in result.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--agents", "0"],
        ["--aht", "-5"],
        ["--aht", "nan"],
        ["--calls-per-hour", "lots"],
        ["--replications", "1"],
        ["--hours", "1", "--warmup-intervals", "4"],
        ["--patience", "inf"],
    ],
)
def test_bad_input_exits_2_without_a_traceback(extra: list[str]) -> None:
    result = runner.invoke(app, [*BASE, *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
