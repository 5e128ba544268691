"""Shift scheduling: required agents per interval in, shifts with breaks out (CP-SAT)."""

from __future__ import annotations

from jietong.wfm.scheduling.model import (
    BreakRule,
    Coverage,
    PlacedBreak,
    Requirements,
    ScheduleConfig,
    ScheduleInputError,
    ScheduleResult,
    Shift,
    ShiftRules,
    coverage_of,
    load_requirements_csv,
    refine,
)
from jietong.wfm.scheduling.solver import default_headcount, solve_schedule

__all__ = [
    "BreakRule",
    "Coverage",
    "PlacedBreak",
    "Requirements",
    "ScheduleConfig",
    "ScheduleInputError",
    "ScheduleResult",
    "Shift",
    "ShiftRules",
    "coverage_of",
    "default_headcount",
    "load_requirements_csv",
    "refine",
    "solve_schedule",
]
