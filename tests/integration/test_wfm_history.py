"""Reading the interaction history for planning, on SQLite and PostgreSQL: weeks of
interactions in, interval series and handling statistics out, one organisation only."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from jietong.app.cli import app
from jietong.app.platform import Platform
from jietong.app.settings import Settings
from jietong.app.wfm_data import read_history
from jietong.wfm import store
from jietong.wfm.forecasting import ForecastConfig, forecast
from tests.conftest import Tenant
from tests.integration.wfm_factories import (
    NOW,
    SHANGHAI,
    WEEKS,
    insert_rows,
    interaction,
    make_queue,
    weekday_history,
)

runner = CliRunner()


def test_history_becomes_interval_series_of_one_organisation(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    general_a = make_queue(platform, tenant_a, "General")
    general_b = make_queue(platform, tenant_b, "General")  # same name, other tenant
    rows = weekday_history(tenant_a.org_id, general_a.id, "call", per_hour=4)
    rows += weekday_history(tenant_a.org_id, general_a.id, "chat", per_hour=2)
    rows += weekday_history(tenant_b.org_id, general_b.id, "call", per_hour=7)
    monday = dt.datetime.combine(dt.date(2025, 3, 10), dt.time(10), SHANGHAI)
    rows.append(interaction(tenant_a.org_id, general_a.id, "call", monday, direction="outbound"))
    rows.append(interaction(tenant_a.org_id, None, "call", monday))  # no queue
    today = dt.datetime(2025, 4, 13, 9, tzinfo=SHANGHAI)  # today: not history yet
    rows.append(interaction(tenant_a.org_id, general_a.id, "call", today))
    insert_rows(platform, rows)

    with platform.uow() as uow:
        history = read_history(
            uow.session, tenant_a.org_id, now=NOW, weeks=WEEKS, queue=general_a, channel="call"
        )
        everything = read_history(uow.session, tenant_a.org_id, now=NOW, weeks=WEEKS)

    built = history.series(60)
    assert history.name == "General/call"
    days = 30  # six weeks of weekdays
    assert built.arrivals == days * 8 * 4 - 6 * 4  # six Wednesdays lose their 14:00 hour
    series = built.series
    assert len(series) == days * 8  # the quiet Wednesday 14:00 is open and counts 0
    starts = series.starts.astype(str)
    assert starts[0] == "2025-03-03T09:00" and starts[-1] == "2025-04-11T16:00"
    assert set(series.counts.tolist()) == {0.0, 4.0}
    wednesday_2pm = [c for s, c in zip(starts, series.counts, strict=True) if s.endswith("14:00")]
    assert wednesday_2pm.count(0.0) == 6

    # Split per queue and channel: the queue-less call is its own series, outbound is out.
    split = {s.series.name: s.arrivals for s in everything.split(30)}
    assert split == {"-/call": 1, "General/call": built.arrivals, "General/chat": days * 8 * 2 - 12}

    # Handling statistics: 10 s waits, 200 s handling, no abandonment.
    assert history.handling.answered == built.arrivals
    assert history.handling.aht_seconds == pytest.approx(200.0)
    assert history.handling.patience_seconds is None

    # The series forecasts: a flat 4 per hour is learnt back.
    result = forecast(series, ForecastConfig(interval_minutes=60, horizon_days=3, country=None))
    assert result.forecast.counts.size == 3 * 8
    assert np.median(result.forecast.counts) == pytest.approx(4.0, abs=0.5)


def test_patience_and_abandonment_from_history(platform: Platform, tenant_a: Tenant) -> None:
    queue = make_queue(platform, tenant_a, "Billing")
    start = dt.datetime(2025, 4, 7, 10, tzinfo=SHANGHAI)
    rows = [
        interaction(tenant_a.org_id, queue.id, "call", start + dt.timedelta(minutes=i),
                    wait=30.0, handle=300.0)
        for i in range(8)
    ]  # fmt: skip
    rows += [
        interaction(tenant_a.org_id, queue.id, "call", start, wait=60.0, abandoned=True),
        interaction(tenant_a.org_id, queue.id, "call", start, wait=120.0, abandoned=True),
    ]
    insert_rows(platform, rows)
    with platform.uow() as uow:
        history = read_history(uow.session, tenant_a.org_id, now=NOW, weeks=2, queue=queue)
    stats = history.handling
    assert (stats.answered, stats.abandoned) == (8, 2)
    assert stats.aht_seconds == pytest.approx(300.0)
    # 8 x 30 s + 60 s + 120 s = 420 s of waiting, 2 abandonments.
    assert stats.patience_seconds == pytest.approx(210.0)
    assert stats.abandon_rate == pytest.approx(0.2)


def test_another_organisations_queue_is_not_found(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    queue_b = make_queue(platform, tenant_b, "Secret")
    with platform.uow() as uow:
        assert store.find_queue(uow.session, tenant_a.org_id, queue_id=queue_b.id) is None
        assert store.find_queue(uow.session, tenant_a.org_id, name="Secret") is None
        assert [q.name for q in store.list_queues(uow.session, tenant_b.org_id)] == ["Secret"]


def test_cli_forecasts_and_plans_from_the_database(
    platform: Platform, settings: Settings, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    now = dt.datetime.now(dt.UTC)
    general = make_queue(platform, tenant_a, "General")
    other = make_queue(platform, tenant_b, "General")
    rows = weekday_history(tenant_a.org_id, general.id, "call", per_hour=6, now=now)
    rows += weekday_history(tenant_a.org_id, general.id, "chat", per_hour=2, now=now)
    rows += weekday_history(tenant_b.org_id, other.id, "call", per_hour=40, now=now)
    insert_rows(platform, rows)
    env = {"JIETONG_DATABASE_URL": settings.effective_database_url,
           "JIETONG_DATA_DIR": str(settings.data_dir)}  # fmt: skip

    forecast_args = ["wfm", "forecast", "--from-db", "--org", "org-a", "--interval", "60"]
    result = runner.invoke(app, [*forecast_args, "--country", "none", "--json"], env=env)
    assert result.exit_code == 0, result.output
    by_name = {item["series"]: item for item in json.loads(result.stdout)}
    assert set(by_name) == {"General/call", "General/chat"}
    # Six an hour for org-a; org-b's forty never enter.
    per_interval = by_name["General/call"]["forecast_total"] / 5 / 8
    assert per_interval == pytest.approx(6, abs=1)

    plan_args = ["wfm", "plan", "--from-db", "--org", "org-a", "--queue", "General",
                 "--channel", "call", "--interval", "60", "--horizon-days", "2",
                 "--shift-hours", "4", "--break-minutes", "0", "--lunch-minutes", "0",
                 "--time-limit", "2", "--replications", "2", "--json"]  # fmt: skip
    result = runner.invoke(app, plan_args, env=env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["series"] == "General/call"
    assert plan["aht_seconds"] == pytest.approx(200.0)  # measured: 200 s handling
    assert plan["patience_seconds"] is None  # nobody abandoned: Erlang C
    assert len(plan["days"]) == 2

    missing = runner.invoke(app, [*plan_args[:6], "Nope", "--json"], env=env)
    assert missing.exit_code == 2
    assert "no queue 'Nope'" in missing.stderr
