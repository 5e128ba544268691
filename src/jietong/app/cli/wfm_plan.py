"""`jietong wfm forecast` and `jietong wfm schedule`: volume forecasts and shift plans.

Thin wrappers: parse options, call the pure functions of :mod:`jietong.wfm.forecasting`,
:mod:`jietong.wfm.scheduling`, :mod:`jietong.wfm.plots` and :mod:`jietong.wfm.export`,
and print. Bad input prints one clear line and exits with status 2.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from jietong.wfm.forecasting import ForecastConfig, IntervalSeries

_out = Console()
_err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    """A progress bar on stderr (so --json output on stdout stays clean)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=quiet,
    )
    with progress:
        yield progress


def _image_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        _fail(f"--plot must end in .png or .svg, not {path.name!r}")
    return fmt


def _table_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        _fail(f"--out must end in .csv or .xlsx, not {path.name!r}")


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4f}"


def _forecast_command(app: typer.Typer) -> None:
    @app.command("forecast")
    def forecast_cmd(
        csv: Annotated[
            Path | None, typer.Option("--csv", help="CSV of interval counts or raw contacts.")
        ] = None,
        from_db: Annotated[
            bool, typer.Option("--from-db", help="The platform's own interaction history.")
        ] = False,
        org: Annotated[str, typer.Option(help="Organisation slug (--from-db).")] = "demo",
        queue: Annotated[str | None, typer.Option(help="Queue name (--from-db).")] = None,
        channel: Annotated[str | None, typer.Option(help="Channel (--from-db).")] = None,
        weeks: Annotated[int, typer.Option(help="Weeks of history (--from-db).")] = 12,
        open_hours: Annotated[str | None, typer.Option(help="e.g. 08:00-20:00.")] = None,
        open_days: Annotated[str, typer.Option(help="With --open-hours.")] = "mon-fri",
        data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
        interval: Annotated[int, typer.Option(help="Interval minutes: 15, 30 or 60.")] = 15,
        horizon_days: Annotated[int, typer.Option(help="Open days to forecast.")] = 5,
        holdout_days: Annotated[int, typer.Option(help="Open days held back to score.")] = 5,
        folds: Annotated[int, typer.Option(help="Backtest windows, newest last.")] = 1,
        country: Annotated[str, typer.Option(help="Holiday calendar, e.g. CN, US; none.")] = "CN",
        ma_weeks: Annotated[int, typer.Option(help="Weeks in the moving average.")] = 4,
        out: Annotated[Path | None, typer.Option(help="Write forecast .csv or .xlsx.")] = None,
        plot: Annotated[Path | None, typer.Option(help="Write chart .png or .svg.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Backtest forecasting models, pick the best and forecast the next open days."""
        from jietong.wfm import export, plots
        from jietong.wfm.forecasting import (
            ForecastConfig,
            ForecastInputError,
            default_models,
            forecast,
            load_csv,
        )

        if interval not in (5, 10, 15, 20, 30, 60):
            _fail("--interval must be one of 5, 10, 15, 20, 30, 60 minutes")
        if out is not None:
            _table_suffix(out)
        plot_fmt = _image_format(plot) if plot is not None else None
        if (csv is None) == (not from_db):
            _fail("give either --csv FILE or --from-db")
        if csv is not None and not csv.is_file():
            _fail(f"no such file: {csv}")
        try:
            config = ForecastConfig(
                interval_minutes=interval,
                horizon_days=horizon_days,
                holdout_days=holdout_days,
                folds=folds,
                country=None if country.lower() == "none" else country,
                ma_weeks=ma_weeks,
            )
            if csv is not None:
                series = load_csv(csv, interval_minutes=interval)
            else:
                series = _db_series(
                    org, queue, channel, weeks, open_hours, open_days, data_dir, interval, config
                )
            results = []
            with _progress(as_json) as progress:
                steps = len(series) * (len(default_models()) * folds + 1)
                task = progress.add_task("Backtesting", total=steps)
                for name, one in series.items():

                    def tick(step: str, name: str = name) -> None:
                        progress.update(task, advance=1, description=f"{name}: {step}")

                    results.append(forecast(one, config, tick))
        except ForecastInputError as exc:
            _fail(str(exc))
        if out is not None:
            sheets = {
                "forecast": export.forecast_frame(results),
                "accuracy": export.accuracy_frame({r.name: r.report for r in results}),
            }
            export.write_tables(out, sheets)
        if plot is not None and plot_fmt is not None:
            plot.write_bytes(plots.plot_forecast(results[0], "svg" if plot_fmt == "svg" else "png"))
        if as_json:
            typer.echo(json.dumps([_result_json(r) for r in results], indent=2))
            return
        for result in results:
            _print_report(result)

    _ = forecast_cmd


def _db_series(
    org: str,
    queue: str | None,
    channel: str | None,
    weeks: int,
    open_hours: str | None,
    open_days: str,
    data_dir: Path | None,
    interval: int,
    config: ForecastConfig,
) -> dict[str, IntervalSeries]:
    """One series per queue and channel of the organisation's history (wfm_planning)."""
    from jietong.app.cli.wfm_planning import DbSelection, db_series

    found, _ = db_series(
        DbSelection(org, queue, channel, weeks, data_dir),
        interval=interval,
        open_hours=open_hours,
        open_days=open_days,
        country=config.country or "none",
        split=True,
    )
    return {one.name: one for one in found}


def _result_json(result: object) -> dict[str, object]:
    from jietong.wfm.forecasting import ForecastResult

    assert isinstance(result, ForecastResult)
    report = result.report
    return {
        "series": result.name,
        "chosen_model": result.model,
        "holdout": [report.holdout_start.isoformat(), report.holdout_end.isoformat()],
        "models": [
            {
                "name": s.name,
                "wape": s.wape if math.isfinite(s.wape) else None,
                "mase": s.mase if math.isfinite(s.mase) else None,
                "baseline": s.baseline,
                "error": s.error,
            }
            for s in report.scores
        ],
        "horizon_days": [d.date.isoformat() for d in result.horizon],
        "forecast_intervals": len(result.forecast),
        "forecast_total": float(result.forecast.counts.sum()),
    }


def _print_report(result: object) -> None:
    from jietong.wfm.forecasting import ForecastResult

    assert isinstance(result, ForecastResult)
    report = result.report
    table = Table(
        title=f"{result.name}: backtest {report.holdout_start} .. {report.holdout_end}",
        title_justify="left",
    )
    for column in ("model", "WAPE", "MASE", "kind", ""):
        table.add_column(column)
    for score in report.scores:
        kind = "baseline" if score.baseline else "model"
        mark = "chosen" if score.name == report.best else (score.error or "")
        table.add_row(score.name, _fmt(score.wape), _fmt(score.mase), kind, mark)
    _out.print(table)
    days = ", ".join(d.date.isoformat() for d in result.horizon)
    _out.print(
        f"chosen model: [bold]{result.model}[/]; forecast {len(result.forecast)} intervals "
        f"({result.forecast.counts.sum():.0f} contacts) for {days}",
        highlight=False,
    )


def _parse_time(value: str | None, option: str) -> dt.time | None:
    if value is None:
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a time like 08:00, not {value!r}")


def _schedule_command(app: typer.Typer) -> None:
    @app.command("schedule")
    def schedule_cmd(
        requirements: Annotated[
            Path, typer.Option("--requirements", help="CSV: interval_start,required.")
        ],
        shift_hours: Annotated[
            list[float] | None, typer.Option(help="Allowed shift length; repeat for more.")
        ] = None,
        start_step: Annotated[int, typer.Option(help="Minutes between start times.")] = 30,
        earliest_start: Annotated[str | None, typer.Option(help="e.g. 07:00")] = None,
        latest_end: Annotated[str | None, typer.Option(help="e.g. 21:00")] = None,
        break_minutes: Annotated[int, typer.Option(help="Short breaks; 0 = none.")] = 15,
        lunch_minutes: Annotated[int, typer.Option(help="Lunch; 0 = none.")] = 30,
        headcount: Annotated[int | None, typer.Option(help="Agents available.")] = None,
        max_days: Annotated[int, typer.Option(help="Shifts per agent per week.")] = 5,
        max_hours: Annotated[float, typer.Option(help="Hours per agent per week.")] = 40.0,
        min_rest_hours: Annotated[float, typer.Option(help="Rest between shifts.")] = 11.0,
        under_weight: Annotated[int, typer.Option(help="Cost per missing agent.")] = 10,
        over_weight: Annotated[int, typer.Option(help="Cost per surplus agent.")] = 1,
        time_limit: Annotated[float, typer.Option(help="Solver seconds.")] = 10.0,
        out: Annotated[Path | None, typer.Option(help="Write .csv (shifts) or .xlsx.")] = None,
        plot: Annotated[Path | None, typer.Option(help="Write coverage .png or .svg.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Build shifts with breaks that cover required agents per interval (CP-SAT)."""
        from jietong.wfm import export, plots
        from jietong.wfm.scheduling import (
            BreakRule,
            ScheduleConfig,
            ScheduleInputError,
            ShiftRules,
            load_requirements_csv,
            solve_schedule,
        )

        if out is not None:
            _table_suffix(out)
        plot_fmt = _image_format(plot) if plot is not None else None
        if not requirements.is_file():
            _fail(f"no such file: {requirements}")
        lengths = tuple(round(h * 60) for h in (shift_hours or [8.0]))
        breaks = []
        if break_minutes > 0:
            breaks += [BreakRule("break", break_minutes, 90, 150)]
            breaks += [BreakRule("break2", break_minutes, 330, 390)]
        if lunch_minutes > 0:
            breaks += [BreakRule("lunch", lunch_minutes, 210, 270)]
        try:
            rules = ShiftRules(
                shift_minutes=lengths,
                start_step_minutes=start_step,
                breaks=tuple(breaks),
                earliest_start=_parse_time(earliest_start, "--earliest-start"),
                latest_end=_parse_time(latest_end, "--latest-end"),
                max_days_per_week=max_days,
                max_minutes_per_week=int(max_hours * 60),
                min_rest_minutes=int(min_rest_hours * 60),
            )
            config = ScheduleConfig(
                rules=rules,
                headcount=headcount,
                under_weight=under_weight,
                over_weight=over_weight,
                time_limit_seconds=time_limit,
            )
            needed = load_requirements_csv(requirements)
            with _progress(as_json) as progress:
                progress.add_task(f"Solving (time limit {time_limit:g} s)", total=None)
                result = solve_schedule(needed, config)
        except ScheduleInputError as exc:
            _fail(str(exc))
        if out is not None:
            export.write_tables(out, export.schedule_tables(result))
        if plot is not None and plot_fmt is not None:
            plot.write_bytes(
                plots.plot_coverage(result.coverage, "svg" if plot_fmt == "svg" else "png")
            )
        summary = export.schedule_tables(result)["summary"].iloc[0].to_dict()
        if as_json:
            typer.echo(json.dumps({k: _plain(v) for k, v in summary.items()}, indent=2))
            return
        _out.print(
            f"status: [bold]{result.status}[/]; {len(result.shifts)} shifts for "
            f"{summary['agents_used']} of {result.headcount} agents; under-staffed "
            f"{result.coverage.under}, over-staffed {result.coverage.over} agent-intervals; "
            f"solved in {result.solve_seconds:.1f} s",
            highlight=False,
        )

    _ = schedule_cmd


def _plain(value: object) -> object:
    """numpy scalars to plain Python for JSON."""
    item: Callable[[], object] | None = getattr(value, "item", None)
    return item() if item is not None else value


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `jietong wfm` group."""
    _forecast_command(app)
    _schedule_command(app)
