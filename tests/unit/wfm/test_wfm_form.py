"""The planning form (pure): bounds, canonical queries, and every message it can show."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from jietong.web import i18n
from jietong.web.wfm_form import CHANNELS, FormProblem, PlanForm, parse_form
from jietong.web.wfm_pages import _MODELS, chart_text
from jietong.wfm.plan_plots import CHART_KINDS

FIELDS = ("queue", "channel", "interval", "horizon", "weeks", "sl", "t", "asa", "abandon",
          "occupancy", "shrinkage", "aht")  # fmt: skip


def test_defaults_and_round_trip() -> None:
    form = parse_form({"run": "1"})
    assert form == PlanForm(schedule=False)
    full = PlanForm(queue_id="abc123", channel="chat", interval=15, horizon_days=14, weeks=26,
                    service_level=0.9, target_seconds=30, asa_seconds=15.5, max_abandon=0.05,
                    max_occupancy=0.85, shrinkage=0.35, aht_seconds=240, schedule=True)  # fmt: skip
    assert parse_form(dict(parse_qsl(full.query()))) == full


def test_the_query_is_canonical() -> None:
    a = parse_form({"run": "1", "sl": "80.0", "horizon": "5", "shrinkage": "30"})
    b = parse_form({"shrinkage": "30.000", "run": "1"})
    assert isinstance(a, PlanForm) and isinstance(b, PlanForm)
    assert a.query() == b.query()


@pytest.mark.parametrize(
    ("params", "field", "key"),
    [
        ({"horizon": "15"}, "horizon", "wfm.error.range"),
        ({"horizon": "0"}, "horizon", "wfm.error.range"),
        ({"interval": "5"}, "interval", "wfm.error.interval"),
        ({"interval": "20"}, "interval", "wfm.error.interval"),
        ({"weeks": "2"}, "weeks", "wfm.error.range"),
        ({"sl": "120"}, "sl", "wfm.error.range"),
        ({"shrinkage": "95"}, "shrinkage", "wfm.error.range"),
        ({"aht": "nan"}, "aht", "wfm.error.range"),
        ({"asa": "inf"}, "asa", "wfm.error.range"),
        ({"channel": "fax"}, "channel", "wfm.error.channel"),
        ({"queue": "../x"}, "queue", "wfm.error.queue"),
    ],
)
def test_out_of_bounds_values_are_problems(params: dict[str, str], field: str, key: str) -> None:
    problems = parse_form({"run": "1", **params})
    assert isinstance(problems, list)
    assert [(p.name, p.key) for p in problems] == [(field, key)]


def test_every_problem_is_reported_at_once() -> None:
    problems = parse_form({"horizon": "99", "interval": "7", "channel": "x"})
    assert isinstance(problems, list)
    assert {p.name for p in problems} == {"horizon", "interval", "channel"}


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_every_key_the_page_builds_exists(locale: str) -> None:
    """Keys put together at run time (the i18n test only sees literal ones)."""
    known = i18n.catalogue(locale)
    built = {f"weekday.{d}" for d in range(7)} | {f"channel.{c}" for c in CHANNELS}
    built |= {f"wfm.model.{m}" for m in _MODELS} | {f"wfm.field.{f}" for f in FIELDS}
    built |= {f"wfm.chart.{k}.alt" for k in CHART_KINDS}
    built |= {f"wfm.schedule.status.{s}" for s in ("optimal", "feasible", "infeasible", "unknown")}
    built |= {"wfm.error.range", "wfm.error.interval", "wfm.error.channel", "wfm.error.queue"}
    built |= {f"wfm.error.{e}" for e in ("no_history", "no_aht", "abandon_needs_patience")}
    built |= {"wfm.error.plan", "wfm.error.busy", "wfm.day_label", "wfm.accuracy.tie"}
    assert built <= set(known), built - set(known)
    problem = FormProblem("horizon", "wfm.error.range", {"field": "x", "low": "1", "high": "14"})
    assert "14" in i18n.translate(locale, problem.key, **problem.values)


def test_chart_wording_is_translated() -> None:
    zh, en = chart_text("zh-CN"), chart_text("en")
    assert en.actual == "actual" and en.weekdays[0] == "Mon"
    if zh.font_path is not None:  # with a CJK font installed, Chinese charts
        assert zh.actual == "实际" and zh.weekdays[0] == "周一"
        assert zh.model_names["moving_average"] == "4 周移动平均"
    else:  # without one, English rather than empty boxes
        assert zh == en
