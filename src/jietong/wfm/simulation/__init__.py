"""Discrete-event simulation of a contact center, routed by the live routing policies.

Typical use::

    from jietong.wfm.simulation import run_replications, single_queue_scenario

    scenario = single_queue_scenario(
        calls_per_hour=600, aht_seconds=300, agents=52, hours=8, patience_seconds=180
    )
    report = run_replications(scenario, replications=10, seed=1)
    report.overall["service_level"].mean, report.overall["service_level"].half_width

See ``docs/subsystems/wfm-simulator.md`` for the event model and definitions.
"""

from jietong.wfm.simulation.distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Exponential,
    LogNormal,
    Never,
)
from jietong.wfm.simulation.engine import simulate
from jietong.wfm.simulation.model import (
    AgentSpec,
    CallbackOffer,
    QueueSpec,
    Scenario,
    agents_from_headcount,
    single_queue_scenario,
    volumes_from_history,
)
from jietong.wfm.simulation.report import (
    Estimate,
    SimulationReport,
    estimate,
    run_replications,
    summarize,
)
from jietong.wfm.simulation.results import ReplicationResult

__all__ = [
    "AgentSpec",
    "CallbackOffer",
    "Deterministic",
    "Distribution",
    "Empirical",
    "Estimate",
    "Exponential",
    "LogNormal",
    "Never",
    "QueueSpec",
    "ReplicationResult",
    "Scenario",
    "SimulationReport",
    "agents_from_headcount",
    "estimate",
    "run_replications",
    "simulate",
    "single_queue_scenario",
    "summarize",
    "volumes_from_history",
]
