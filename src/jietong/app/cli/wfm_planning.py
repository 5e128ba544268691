"""`jietong wfm plan`: forecast -> staffing -> shifts -> simulation in one command, and
reading history from the platform's database (also for `jietong wfm forecast --from-db`).

A thin wrapper around :func:`jietong.wfm.planning.run_plan`: parse options, load the
series (CSV or database), show progress bars on stderr, print a per-day summary, write
tables and charts. Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from jietong.app.wfm_data import History
    from jietong.wfm.forecasting import IntervalSeries
    from jietong.wfm.history import OpeningHours
    from jietong.wfm.planning import PlanResult

_out = Console()
_err = Console(stderr=True)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_STAGES = {
    "forecast": "Forecasting",
    "staffing": "Staffing",
    "schedule": "Scheduling",
    "simulation": "Simulating",
}


def _fail(message: str) -> NoReturn:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


# --------------------------------------------------------------------------- database input


def parse_open_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon-sat``, ``mon,wed,fri`` -> weekday numbers (ValueError if bad)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise ValueError(f"unknown day in {text!r}; use mon..sun, e.g. mon-fri")
        lo, hi = _DAY_NAMES.index(first), _DAY_NAMES.index(last or first)
        if hi < lo:
            raise ValueError(f"day range {part!r} runs backwards")
        days.update(range(lo, hi + 1))
    return frozenset(days)


def parse_open_hours(
    text: str | None, open_days: str, country: str | None, years: range
) -> OpeningHours | None:
    """``07:00-21:00`` on ``open_days`` with the country's holidays, or None."""
    if text is None:
        return None
    from jietong.wfm.history import OpeningHours
    from jietong.wfm.holidays import load_calendar

    try:
        opens, _, closes = text.partition("-")
        calendar = load_calendar(country, years)
        return OpeningHours.weekly(
            dt.time.fromisoformat(opens.strip()),
            dt.time.fromisoformat(closes.strip()),
            parse_open_days(open_days),
            calendar,
        )
    except ValueError as exc:
        _fail(
            f"--open-hours/--open-days: {exc} (e.g. --open-hours 08:00-20:00 --open-days mon-fri)"
        )


@dataclass(frozen=True)
class DbSelection:
    """Which history to read: organisation slug, optional queue name and channel."""

    org: str = "demo"
    queue: str | None = None
    channel: str | None = None
    weeks: int = 12
    data_dir: Path | None = None


def read_db_history(selection: DbSelection) -> History:
    """The selected history (exits with status 2 when it cannot be read)."""
    from sqlalchemy.exc import SQLAlchemyError

    from jietong.app.platform import build_platform
    from jietong.app.settings import load_settings
    from jietong.app.wfm_data import read_history
    from jietong.wfm import store

    overrides = {"data_dir": selection.data_dir} if selection.data_dir is not None else {}
    platform = build_platform(load_settings(**overrides))
    try:
        with platform.uow() as uow:
            org = store.find_organisation(uow.session, selection.org)
            if org is None:
                _fail(f"no organisation {selection.org!r} in {platform.settings.data_dir}")
            queue = None
            if selection.queue is not None:
                queue = store.find_queue(uow.session, org.id, name=selection.queue)
                if queue is None:
                    names = [q.name for q in store.list_queues(uow.session, org.id)]
                    _fail(f"no queue {selection.queue!r} in {selection.org!r}; queues: {names}")
            history = read_history(
                uow.session,
                org.id,
                now=uow.now,
                weeks=selection.weeks,
                queue=queue,
                channel=selection.channel,
            )
            return history
    except SQLAlchemyError as exc:
        _fail(f"cannot read the database ({type(exc).__name__}); run `jietong db upgrade`?")
    except ValueError as exc:
        _fail(str(exc))
    finally:
        platform.close()


def db_series(
    selection: DbSelection,
    *,
    interval: int,
    open_hours: str | None,
    open_days: str,
    country: str | None,
    split: bool,
) -> tuple[list[IntervalSeries], History]:
    """Series from the database: one per queue/channel when ``split``, else the selection
    as one. ``country`` None means the organisation's region."""
    from jietong.wfm.forecasting import ForecastInputError

    history = read_db_history(selection)
    w = history.window
    years = range(w.first_day.year, w.last_day.year + 1)
    hours = parse_open_hours(open_hours, open_days, country or history.region, years)
    try:
        built = history.split(interval, hours) if split else [history.series(interval, hours)]
    except ForecastInputError as exc:
        _fail(str(exc))
    if not built:
        _fail(f"no inbound interactions in the last {selection.weeks} weeks of {selection.org!r}")
    for item in built:
        if item.outside_hours:
            _err.print(
                f"{item.series.name}: {item.outside_hours} of {item.arrivals} contacts arrived "
                "outside the opening hours and are left out",
                highlight=False,
            )
    return [item.series for item in built], history


# --------------------------------------------------------------------------- progress


@contextmanager
def _stage_bars(quiet: bool) -> Iterator[tuple[Progress, dict[str, TaskID]]]:
    """One bar per stage on stderr (so --json on stdout stays clean)."""
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed:>4.0f}/{task.total:<4.0f}"),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=quiet,
    )
    with progress:
        yield progress, {}


# --------------------------------------------------------------------------- output


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _print_days(result: PlanResult) -> None:
    accuracy = result.forecast.report.score(result.forecast.model)
    _out.print(
        f"[bold]{result.name}[/]: model {result.forecast.model} (backtest WAPE "
        f"{_pct(accuracy.wape)}, MASE {accuracy.mase:.3f}); AHT {result.config.aht_seconds:.0f} s"
        + (
            f", patience {result.config.patience_seconds:.0f} s"
            if result.config.patience_seconds
            else ""
        )
        + f", shrinkage {result.config.shrinkage:.0%}",
        highlight=False,
    )
    table = Table(title="Plan per day (agent-hours at work)", title_justify="left")
    for column in ("date", "contacts", "req h", "+shrink h", "sched h", "sim SL ± 95%"):
        table.add_column(column, justify="right")
    table.add_column("under", justify="right")
    table.add_column("< target", justify="right")
    for day in result.days:
        sl = "-"
        if day.service_level is not None:
            e = day.service_level
            sl = f"{_pct(e.mean)} ± {_pct(e.half_width)}"
        table.add_row(
            f"{day.date:%a %m-%d}",
            f"{day.contacts:.0f}",
            f"{day.required_hours:.1f}",
            f"{day.required_heads_hours:.1f}",
            f"{day.scheduled_hours:.1f}",
            sl,
            str(day.understaffed_intervals),
            "-" if day.below_target_intervals is None else str(day.below_target_intervals),
        )
    _out.print(table)
    _out.print(
        f"req = on-line agents for the targets; +shrink = heads to schedule; under = "
        f"intervals with fewer agents than that; < target = simulated SL below target "
        f"({result.replications_run} runs)",
        highlight=False,
        style="dim",
    )
    if result.schedule is not None:
        s = result.schedule
        _out.print(
            f"schedule: {s.status}, {len(s.shifts)} shifts for "
            f"{len({x.agent for x in s.shifts})} agents, solved in {s.solve_seconds:.1f} s",
            highlight=False,
        )
    if result.service_level is not None:
        e = result.service_level
        _out.print(
            f"simulated service level over the plan: {_pct(e.mean)} ± {_pct(e.half_width)}",
            highlight=False,
        )


def _estimate_json(value: object) -> dict[str, float | None] | None:
    from jietong.wfm.simulation import Estimate

    if not isinstance(value, Estimate):
        return None

    def clean(x: float) -> float | None:
        return round(x, 6) if math.isfinite(x) else None

    return {
        "mean": clean(value.mean),
        "low": clean(max(value.low, 0.0)),
        "high": clean(min(value.high, 1.0)),
    }


def _plan_json(result: PlanResult) -> dict[str, object]:
    report = result.forecast.report
    return {
        "series": result.name,
        "model": result.forecast.model,
        "accuracy": [
            {
                "model": s.name,
                "wape": s.wape if math.isfinite(s.wape) else None,
                "mase": s.mase if math.isfinite(s.mase) else None,
                "baseline": s.baseline,
            }
            for s in report.scores
        ],
        "aht_seconds": result.config.aht_seconds,
        "patience_seconds": result.config.patience_seconds,
        "shrinkage": result.config.shrinkage,
        "replications": result.replications_run,
        "service_level": _estimate_json(result.service_level),
        "schedule_status": result.schedule.status if result.schedule else None,
        "days": [
            {
                "date": d.date.isoformat(),
                "contacts": round(d.contacts, 2),
                "required_agent_hours": d.required_hours,
                "required_agent_hours_with_shrinkage": d.required_heads_hours,
                "scheduled_agent_hours": d.scheduled_hours,
                "service_level": _estimate_json(d.service_level),
                "understaffed_intervals": d.understaffed_intervals,
                "intervals_below_target": d.below_target_intervals,
            }
            for d in result.days
        ],
    }


def _write_outputs(result: PlanResult, out: Path | None, plots_dir: Path | None, fmt: str) -> None:
    from jietong.wfm import export, plots
    from jietong.wfm.plan_plots import plan_charts
    from jietong.wfm.planning import plan_tables

    if out is not None:
        export.write_tables(out, plan_tables(result))
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        image: plots.ImageFormat = "svg" if fmt == "svg" else "png"
        for kind, figure in plan_charts(result).items():
            (plots_dir / f"{kind}.{image}").write_bytes(plots.render(figure, image))


# --------------------------------------------------------------------------- the command


def _check_outputs(out: Path | None, plot_format: str, interval: int) -> None:
    if out is not None and out.suffix.lower() not in (".csv", ".xlsx"):
        _fail(f"--out must end in .csv or .xlsx, not {out.name!r}")
    if plot_format not in ("png", "svg"):
        _fail("--plot-format must be png or svg")
    if interval not in (15, 30, 60):
        _fail("--interval must be 15, 30 or 60 minutes")


def _csv_series(csv: Path, interval: int, series: str | None) -> IntervalSeries:
    from jietong.wfm.forecasting import ForecastInputError, load_csv

    if not csv.is_file():
        _fail(f"no such file: {csv}")
    try:
        found = load_csv(csv, interval_minutes=interval)
    except ForecastInputError as exc:
        _fail(str(exc))
    if series is not None:
        if series not in found:
            _fail(f"no series {series!r} in {csv.name}; found {sorted(found)}")
        return found[series]
    if len(found) > 1:
        _fail(f"{csv.name} holds several series {sorted(found)}: choose one with --series")
    return next(iter(found.values()))


def _plan_command(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_cmd(
        csv: Annotated[Path | None, typer.Option(help="CSV of counts or contacts.")] = None,
        series: Annotated[str | None, typer.Option(help="Series of a multi-series CSV.")] = None,
        from_db: Annotated[
            bool, typer.Option("--from-db", help="Use the platform's history.")
        ] = False,
        org: Annotated[str, typer.Option(help="Organisation slug (--from-db).")] = "demo",
        queue: Annotated[str | None, typer.Option(help="Queue name (--from-db).")] = None,
        channel: Annotated[str | None, typer.Option(help="Channel, e.g. call (--from-db).")] = None,
        weeks: Annotated[int, typer.Option(help="Weeks of history to read.")] = 12,
        open_hours: Annotated[
            str | None, typer.Option(help="e.g. 08:00-20:00 (--from-db).")
        ] = None,
        open_days: Annotated[str, typer.Option(help="With --open-hours: mon-fri.")] = "mon-fri",
        data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
        interval: Annotated[int, typer.Option(help="Minutes: 15, 30 or 60.")] = 30,
        horizon_days: Annotated[int, typer.Option(help="Open days to plan.")] = 5,
        holdout_days: Annotated[int, typer.Option(help="Open days held back.")] = 5,
        folds: Annotated[int, typer.Option(help="Backtest windows.")] = 1,
        country: Annotated[str | None, typer.Option(help="Holidays: CN, US, none.")] = None,
        aht: Annotated[float | None, typer.Option(help="AHT seconds (db: measured).")] = None,
        patience: Annotated[float | None, typer.Option(help="Mean patience s (Erlang A).")] = None,
        erlang_c: Annotated[bool, typer.Option("--erlang-c", help="Ignore patience.")] = False,
        target_sl: Annotated[float | None, typer.Option(help="Service level, e.g. 0.8.")] = 0.8,
        target_seconds: Annotated[float, typer.Option(help="T of the SL target.")] = 20.0,
        target_asa: Annotated[float | None, typer.Option(help="ASA cap, seconds.")] = None,
        max_abandon: Annotated[float | None, typer.Option(help="Abandon cap (Erlang A).")] = None,
        max_occupancy: Annotated[float | None, typer.Option(help="Occupancy cap.")] = None,
        shrinkage: Annotated[float, typer.Option(help="Share of paid time off-line.")] = 0.3,
        no_schedule: Annotated[bool, typer.Option("--no-schedule", help="Skip shifts.")] = False,
        shift_hours: Annotated[list[float] | None, typer.Option(help="Repeatable.")] = None,
        start_step: Annotated[int, typer.Option(help="Minutes between starts.")] = 30,
        break_minutes: Annotated[int, typer.Option(help="Short breaks; 0 = none.")] = 15,
        lunch_minutes: Annotated[int, typer.Option(help="Lunch; 0 = none.")] = 30,
        headcount: Annotated[int | None, typer.Option(help="Agents available.")] = None,
        max_days: Annotated[int, typer.Option(help="Shifts per agent per week.")] = 5,
        max_hours: Annotated[float, typer.Option(help="Hours per agent per week.")] = 40.0,
        time_limit: Annotated[float, typer.Option(help="Scheduler seconds.")] = 10.0,
        replications: Annotated[int, typer.Option(help="Simulation runs; 0 = none.")] = 10,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        out: Annotated[Path | None, typer.Option(help="Write .csv or .xlsx.")] = None,
        plots_dir: Annotated[Path | None, typer.Option("--plots", help="Chart directory.")] = None,
        plot_format: Annotated[str, typer.Option(help="png or svg.")] = "png",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Forecast, staff (Erlang C/A), schedule shifts and check the plan by simulation."""
        from jietong.wfm.forecasting import ForecastConfig, ForecastInputError
        from jietong.wfm.planning import (
            PlanConfig,
            PlanInputError,
            run_plan,
            standard_shift_rules,
        )
        from jietong.wfm.scheduling import ScheduleConfig, ScheduleInputError
        from jietong.wfm.staffing import StaffingTargets

        _check_outputs(out, plot_format, interval)
        if (csv is None) == (not from_db):
            _fail("give either --csv FILE or --from-db")
        if csv is not None:
            one = _csv_series(csv, interval, series)
            measured_aht = measured_patience = None
            holiday_country = country or "CN"
        else:
            selection = DbSelection(org, queue, channel, weeks, data_dir)
            found, history = db_series(
                selection,
                interval=interval,
                open_hours=open_hours,
                open_days=open_days,
                country=country,
                split=False,
            )
            one = found[0]
            measured_aht = history.handling.aht_seconds
            measured_patience = history.handling.patience_seconds
            holiday_country = country or history.region
        aht_used = aht if aht is not None else measured_aht
        if aht_used is None:
            _fail("give --aht (no answered interactions to measure it from)")
        patience_used = (
            None if erlang_c else (patience if patience is not None else measured_patience)
        )
        try:
            targets = StaffingTargets(
                service_level=target_sl,
                target_seconds=target_seconds,
                asa_seconds=target_asa,
                max_abandon=max_abandon,
                max_occupancy=max_occupancy,
            )
            schedule = None
            if not no_schedule:
                rules = standard_shift_rules(
                    shift_hours or [8.0, 6.0],
                    start_step_minutes=start_step,
                    break_minutes=break_minutes,
                    lunch_minutes=lunch_minutes,
                    max_days_per_week=max_days,
                    max_hours_per_week=max_hours,
                )
                schedule = ScheduleConfig(
                    rules=rules, headcount=headcount, time_limit_seconds=time_limit
                )
            config = PlanConfig(
                targets=targets,
                aht_seconds=aht_used,
                forecast=ForecastConfig(
                    interval_minutes=interval,
                    horizon_days=horizon_days,
                    holdout_days=holdout_days,
                    folds=folds,
                    country=None if holiday_country.lower() == "none" else holiday_country,
                ),
                patience_seconds=patience_used,
                shrinkage=shrinkage,
                schedule=schedule,
                replications=replications,
                seed=seed,
            )
            with _stage_bars(as_json) as (progress, tasks):

                def tick(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total)
                    progress.update(tasks[stage], completed=done, total=total)

                result = run_plan(one, config, tick)
        except (PlanInputError, ForecastInputError, ScheduleInputError, ValueError) as exc:
            _fail(str(exc))
        _write_outputs(result, out, plots_dir, plot_format)
        if as_json:
            typer.echo(json.dumps(_plan_json(result), indent=2))
            return
        _print_days(result)

    _ = plan_cmd


def register(app: typer.Typer) -> None:
    """Add `plan` to the `jietong wfm` group."""
    _plan_command(app)
