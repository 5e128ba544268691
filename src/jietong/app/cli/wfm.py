"""`jietong wfm …`: workforce management commands, one module per area."""

from __future__ import annotations

import typer

from jietong.app.cli import wfm_erlang, wfm_plan, wfm_planning, wfm_sim

app = typer.Typer(
    help="Workforce management: Erlang staffing, simulation, forecasts, schedules.",
    no_args_is_help=True,
)
wfm_erlang.register(app)
wfm_sim.register(app)
wfm_plan.register(app)
wfm_planning.register(app)
