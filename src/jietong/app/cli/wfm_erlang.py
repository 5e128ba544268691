"""`jietong wfm erlang`: agents required for a target, or the figures at a given staffing."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from jietong.wfm.erlang import FloatArray, QueueMetrics, erlang_a_metrics, erlang_c_metrics
from jietong.wfm.staffing import (
    SL_DEFINITIONS,
    SlDefinition,
    StaffingTargets,
    meets_targets,
    scheduled_from_required,
    solve_staffing,
)

EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class _Request:
    calls: float
    interval_seconds: float
    aht: float
    targets: StaffingTargets
    patience: float | None
    agents: int | None
    shrinkage: float


def _validate(req: _Request) -> None:
    """Raise ValueError for anything the solver or formulas would reject."""
    if not (math.isfinite(req.calls) and req.calls >= 0):
        raise ValueError(f"--calls must be >= 0, got {req.calls}")
    if not (math.isfinite(req.aht) and req.aht > 0):
        raise ValueError(f"--aht must be > 0 seconds, got {req.aht}")
    if not (math.isfinite(req.interval_seconds) and req.interval_seconds > 0):
        raise ValueError(f"--interval-seconds must be > 0, got {req.interval_seconds}")
    if req.patience is not None and not (math.isfinite(req.patience) and req.patience > 0):
        raise ValueError(f"--patience must be > 0 seconds, got {req.patience}")
    if not (0 <= req.shrinkage < 1):
        raise ValueError(f"--shrinkage must be in [0, 1), got {req.shrinkage}")
    if req.agents is not None and req.agents < 0:
        raise ValueError(f"--agents must be >= 0, got {req.agents}")
    req.targets.validate(erlang_a=req.patience is not None)


def _figures_at(req: _Request, agents: int) -> QueueMetrics:
    rate = req.calls / req.interval_seconds
    t = req.targets
    if req.patience is None:
        return erlang_c_metrics(agents, rate, req.aht, t.target_seconds)
    return erlang_a_metrics(
        agents, rate, req.aht, req.patience, t.target_seconds, t.short_abandon_seconds
    )


def _required(req: _Request) -> int:
    result = solve_staffing(
        req.calls,
        req.aht,
        req.interval_seconds,
        req.targets,
        patience_seconds=req.patience,
    )
    return int(result.required_agents)


def _number(value: FloatArray) -> float | None:
    """A JSON-safe float: infinite waits (unstable queue) become null."""
    number = float(value)
    return number if math.isfinite(number) else None


def _report(req: _Request, agents: int, solved: bool, m: QueueMetrics) -> dict[str, object]:
    t = req.targets
    out: dict[str, object] = {
        "mode": "required" if solved else "given_agents",
        "model": m.model,
        "agents": agents,
        "scheduled_agents": int(scheduled_from_required(agents, req.shrinkage)),
        "shrinkage": req.shrinkage,
        "offered_load_erlangs": _number(m.offered_load),
        "target_service_level": t.service_level,
        "target_seconds": t.target_seconds,
        "service_level": _number(m.service_level),
        "service_level_definition": m.service_level_definition,
        "service_level_answered": _number(m.service_level_answered),
        "service_level_answered_definition": m.service_level_answered_definition,
        "service_level_excl_short_abandons": _number(m.service_level_excl_short_abandons),
        "service_level_excl_short_abandons_definition": (
            m.service_level_excl_short_abandons_definition
        ),
        "asa_seconds": _number(m.asa_seconds),
        "mean_wait_seconds": _number(m.mean_wait_seconds),
        "p_wait": _number(m.p_wait),
        "occupancy": _number(m.occupancy),
        "meets_targets": bool(meets_targets(m, t)),
    }
    if req.patience is not None:
        out["patience_seconds"] = req.patience
        out["p_abandon"] = _number(m.p_abandon)
        out["short_abandon_seconds"] = t.short_abandon_seconds
        out["p_abandon_short"] = _number(m.p_abandon_short)
    return out


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _seconds(value: float | None) -> str:
    return "∞ (unstable)" if value is None else f"{value:.2f} s"


def _table(req: _Request, agents: int, solved: bool, m: QueueMetrics) -> Table:
    heading = "Agents required" if solved else "Figures at the given staffing"
    model = "Erlang A" if m.model == "erlang_a" else "Erlang C"
    table = Table(title=f"{heading} ({model})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("definition")
    scheduled = int(scheduled_from_required(agents, req.shrinkage))
    t = req.targets

    def define(text: str) -> str:
        return text.replace("T seconds", f"{t.target_seconds:g} s").replace(
            "S seconds", f"{t.short_abandon_seconds:g} s"
        )

    rows: list[tuple[str, str, str]] = [
        ("agents on the phones", str(agents), ""),
        ("agents to schedule", str(scheduled), f"ceil(agents / (1 - {req.shrinkage}))"),
        ("offered load", f"{float(m.offered_load):.3f} erl", "calls x AHT / interval"),
        ("service level", _percent(_number(m.service_level)), define(m.service_level_definition)),
        (
            "SL over answered",
            _percent(_number(m.service_level_answered)),
            define(m.service_level_answered_definition),
        ),
        (
            "SL excl. short abandons",
            _percent(_number(m.service_level_excl_short_abandons)),
            define(m.service_level_excl_short_abandons_definition),
        ),
        ("ASA", _seconds(_number(m.asa_seconds)), "mean wait of answered calls"),
        ("P(wait)", _percent(_number(m.p_wait)), "calls that queue at all"),
        ("occupancy", _percent(_number(m.occupancy)), "carried load / agents"),
        ("meets targets", "yes" if bool(meets_targets(m, t)) else "NO", ""),
    ]
    if req.patience is not None:
        short = t.short_abandon_seconds
        rows.append(("P(abandon)", _percent(_number(m.p_abandon)), "abandoned / offered"))
        rows.append(
            (
                "short abandons",
                _percent(_number(m.p_abandon_short)),
                f"abandoned within {short:g} s / offered",
            )
        )
    for row in rows:
        table.add_row(*row)
    return table


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `jietong wfm` group."""

    @app.command("erlang")
    def erlang(
        calls: Annotated[float, typer.Option("--calls", help="Calls offered in the interval.")],
        aht: Annotated[float, typer.Option("--aht", help="Average handling time, seconds.")],
        interval_seconds: Annotated[
            float, typer.Option("--interval-seconds", help="Interval length, seconds.")
        ] = 900.0,
        target_sl: Annotated[
            float, typer.Option("--target-sl", help="Service-level target in (0, 1].")
        ] = 0.8,
        target_seconds: Annotated[
            float, typer.Option("--target-seconds", help="T of 'answered within T'.")
        ] = 20.0,
        patience: Annotated[
            float | None,
            typer.Option("--patience", help="Mean patience, seconds: use Erlang A."),
        ] = None,
        agents: Annotated[
            int | None, typer.Option("--agents", help="Report figures at this staffing.")
        ] = None,
        shrinkage: Annotated[
            float, typer.Option("--shrinkage", help="Fraction of paid time off the phones.")
        ] = 0.0,
        max_occupancy: Annotated[
            float | None, typer.Option("--max-occupancy", help="Occupancy cap in (0, 1].")
        ] = None,
        target_asa: Annotated[
            float | None, typer.Option("--target-asa", help="ASA cap, seconds.")
        ] = None,
        max_abandon: Annotated[
            float | None,
            typer.Option("--max-abandon", help="Abandonment cap in (0, 1] (needs --patience)."),
        ] = None,
        sl_definition: Annotated[
            str,
            typer.Option(
                "--sl-definition",
                help="Which service level the target applies to: " + ", ".join(SL_DEFINITIONS),
            ),
        ] = "offered",
        short_abandon_seconds: Annotated[
            float,
            typer.Option("--short-abandon-seconds", help="S for 'excluding short abandons'."),
        ] = 5.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Erlang C/A staffing: agents required for a target, or the figures at --agents."""
        try:
            if sl_definition not in SL_DEFINITIONS:
                raise ValueError(f"--sl-definition must be one of {', '.join(SL_DEFINITIONS)}")
            definition = cast(SlDefinition, sl_definition)  # checked just above
            req = _Request(
                calls=calls,
                interval_seconds=interval_seconds,
                aht=aht,
                targets=StaffingTargets(
                    service_level=target_sl,
                    target_seconds=target_seconds,
                    asa_seconds=target_asa,
                    max_abandon=max_abandon,
                    max_occupancy=max_occupancy,
                    sl_definition=definition,
                    short_abandon_seconds=short_abandon_seconds,
                ),
                patience=patience,
                agents=agents,
                shrinkage=shrinkage,
            )
            _validate(req)
            staffed = _required(req) if agents is None else agents
            figures = _figures_at(req, staffed)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=EXIT_BAD_INPUT) from None
        if as_json:
            report = _report(req, staffed, agents is None, figures)
            typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            Console().print(_table(req, staffed, agents is None, figures))
