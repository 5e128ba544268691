"""`jietong wfm erlang` through the real Typer app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from jietong.app.cli import app

runner = CliRunner()
BASE = ["wfm", "erlang", "--calls", "100", "--interval-seconds", "1800", "--aht", "180"]


def run_json(*extra: str) -> dict[str, Any]:
    result = runner.invoke(app, [*BASE, *extra, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_required_agents_erlang_c() -> None:
    data = run_json("--target-sl", "0.8", "--target-seconds", "20")
    assert data["agents"] == 14
    assert data["model"] == "erlang_c"
    assert data["service_level"] == pytest.approx(0.88835, abs=1e-5)
    assert data["service_level_definition"] == "answered within T seconds / offered calls"
    assert data["asa_seconds"] == pytest.approx(7.8359, abs=1e-4)
    assert data["p_wait"] == pytest.approx(0.17413, abs=1e-5)
    assert data["occupancy"] == pytest.approx(10 / 14)
    assert data["meets_targets"] is True
    assert "p_abandon" not in data
    for key in ("service_level_answered", "service_level_excl_short_abandons"):
        assert data[key] == pytest.approx(data["service_level"])


def test_required_agents_erlang_a_with_shrinkage_and_occupancy_cap() -> None:
    data = run_json("--patience", "60", "--shrinkage", "0.3", "--max-occupancy", "0.6")
    assert data["model"] == "erlang_a"
    agents = data["agents"]
    assert isinstance(agents, int)
    assert data["occupancy"] <= 0.6
    assert data["scheduled_agents"] == -(-agents * 10 // 7)  # ceil(agents / 0.7)
    assert 0 <= data["p_abandon"] <= 1
    assert "p_abandon_short" in data
    assert data["service_level_answered_definition"] == "answered within T seconds / answered calls"
    fewer = run_json("--patience", "60", "--agents", str(agents - 1))
    assert fewer["occupancy"] > 0.6


def test_figures_at_given_agents() -> None:
    data = run_json("--agents", "13")
    assert data["mode"] == "given_agents"
    assert data["agents"] == 13
    assert data["service_level"] == pytest.approx(0.795595, abs=1e-6)
    assert data["meets_targets"] is False


def test_unstable_staffing_reports_null_wait_not_infinity() -> None:
    data = run_json("--agents", "9")
    assert data["asa_seconds"] is None
    assert data["p_wait"] == 1.0


def test_human_output_is_a_table() -> None:
    result = runner.invoke(app, [*BASE, "--patience", "120"])
    assert result.exit_code == 0
    assert "Agents required (Erlang A)" in result.stdout
    assert "answered within 20 s / offered calls" in result.stdout
    assert "P(abandon)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--calls", "-5", "--aht", "180"], "--calls must be >= 0"),
        (["--calls", "5", "--aht", "0"], "--aht must be > 0"),
        (["--calls", "5", "--aht", "180", "--target-sl", "1.5"], "service level target"),
        (["--calls", "5", "--aht", "180", "--target-sl", "0"], "service level target"),
        (["--calls", "5", "--aht", "180", "--interval-seconds", "0"], "--interval-seconds"),
        (["--calls", "5", "--aht", "180", "--shrinkage", "1"], "--shrinkage"),
        (["--calls", "5", "--aht", "180", "--max-abandon", "0.1"], "patience"),
        (["--calls", "5", "--aht", "180", "--agents", "-1"], "--agents"),
        (["--calls", "5", "--aht", "180", "--sl-definition", "bogus"], "--sl-definition"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["wfm", "erlang", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
