"""`jietong wfm simulate`: what-if simulation of one queue (M/M/n+M style) with CIs."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated

import typer

from jietong.core.errors import JietongError

if TYPE_CHECKING:
    from jietong.wfm.simulation import Estimate, SimulationReport

_FORMATS: dict[str, tuple[str, float, str]] = {
    # metric: (label, scale, unit)
    "service_level": ("Service level", 100.0, "%"),
    "asa": ("ASA (answered)", 1.0, "s"),
    "mean_wait": ("Mean wait (all)", 1.0, "s"),
    "abandon_rate": ("Abandon rate", 100.0, "%"),
    "p_wait": ("Waited", 100.0, "%"),
    "callback_rate": ("Took a callback", 100.0, "%"),
    "callback_delay": ("Callback delay", 1.0, "s"),
    "occupancy": ("Occupancy", 100.0, "%"),
    "mean_queue": ("Mean queue", 1.0, ""),
    "max_queue": ("Max queue", 1.0, ""),
    "offered": ("Offered", 1.0, ""),
    "answered": ("Answered", 1.0, ""),
    "abandoned": ("Abandoned (count)", 1.0, ""),
}


def _fmt(value: float, scale: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    return f"{value * scale:,.2f}{unit}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `jietong wfm` group."""

    @app.command()
    def simulate(
        calls_per_hour: Annotated[
            float, typer.Option("--calls-per-hour", min=0, help="Mean arrivals per hour.")
        ],
        aht: Annotated[float, typer.Option("--aht", min=0.001, help="Mean handle time, seconds.")],
        agents: Annotated[int, typer.Option("--agents", min=1, help="Agents logged in.")],
        patience: Annotated[
            float | None,
            typer.Option("--patience", min=0.001, help="Mean patience, seconds (none: never)."),
        ] = None,
        hours: Annotated[float, typer.Option("--hours", min=0.01, max=8784, help="Horizon.")] = 8.0,
        replications: Annotated[
            int, typer.Option("--replications", min=2, max=10_000, help="Independent runs.")
        ] = 10,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
        target_seconds: Annotated[
            float, typer.Option("--target-seconds", min=0, help="Service-level target T.")
        ] = 20.0,
        interval_minutes: Annotated[
            float, typer.Option("--interval-minutes", min=1, help="Reporting interval.")
        ] = 15.0,
        warmup_intervals: Annotated[
            int, typer.Option("--warmup-intervals", min=0, help="Intervals left out overall.")
        ] = 0,
        callback_threshold: Annotated[
            float | None,
            typer.Option("--callback-threshold", min=0, help="Offer a callback above this EWT."),
        ] = None,
        callback_accept: Annotated[
            float, typer.Option("--callback-accept", min=0, max=1, help="Share accepting.")
        ] = 0.5,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Processes.")] = 1,
        per_interval: Annotated[
            bool, typer.Option("--per-interval", help="Also print each interval.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Simulate one queue with exponential handle times (and patience) and print the
        service level, ASA, abandonment, occupancy and queue length with 95% confidence
        intervals over independent replications."""
        from jietong.wfm.simulation import CallbackOffer, run_replications, single_queue_scenario

        try:
            offer = None
            if callback_threshold is not None:
                offer = CallbackOffer(callback_threshold, callback_accept)
            scenario = single_queue_scenario(
                calls_per_hour=calls_per_hour,
                aht_seconds=aht,
                agents=agents,
                hours=hours,
                patience_seconds=patience,
                target_seconds=target_seconds,
                interval_seconds=interval_minutes * 60,
                warmup_intervals=warmup_intervals,
                callback=offer,
            )
            report = run_replications(scenario, replications, seed, workers=workers)
        except JietongError as exc:
            typer.echo(f"Error: {exc.detail}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
            return
        _print_report(report, calls_per_hour * aht / 3600, agents, per_interval)


def _row(name: str, e: Estimate) -> list[str]:
    label, scale, unit = _FORMATS[name]
    return [
        label,
        _fmt(e.mean, scale, unit),
        _fmt(e.half_width, scale, unit),
        f"{_fmt(e.low, scale, unit)} .. {_fmt(e.high, scale, unit)}",
    ]


def _print_report(report: SimulationReport, load: float, agents: int, per_interval: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pct = round(report.confidence * 100)
    title = (
        f"Offered load {load:,.2f} erlangs on {agents} agents; {report.replications} "
        f"replications; service level = answered within {report.target_seconds:g} s / "
        f"offered (abandons included)"
    )
    table = Table(title=title, title_justify="left")
    for column in ("Figure", "Mean", f"± ({pct}% CI)", f"{pct}% CI"):
        table.add_column(column, justify="left" if column == "Figure" else "right")
    shown = [n for n in _FORMATS if n in report.overall]
    if math.isnan(report.overall["callback_delay"].mean):
        shown = [n for n in shown if not n.startswith("callback")]
    for name in shown:
        table.add_row(*_row(name, report.overall[name]))
    console.print(table)
    if report.unserved:
        console.print(f"{report.unserved} contacts were still waiting at the end (no agent left).")
    if not per_interval:
        return
    columns = ("service_level", "asa", "abandon_rate", "occupancy", "mean_queue")
    detail = Table(title="Per interval (means over replications)", title_justify="left")
    detail.add_column("Start")
    for name in columns:
        detail.add_column(_FORMATS[name][0], justify="right")
    for i, figures in enumerate(report.per_interval):
        minutes = round(i * report.interval_seconds / 60)
        cells = [_fmt(figures[n].mean, *_FORMATS[n][1:]) for n in columns]
        detail.add_row(f"{minutes // 60:02d}:{minutes % 60:02d}", *cells)
    console.print(detail)
