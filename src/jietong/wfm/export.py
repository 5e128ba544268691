"""Tables of forecasts, requirements and schedules as DataFrames, CSV or XLSX bytes.

Every ``*_frame`` function is pure; :func:`to_csv_bytes` / :func:`to_xlsx_bytes` encode
(XLSX via openpyxl, one sheet per table) so a web handler can serve the bytes and the CLI
can write them with :func:`write_tables`, which picks the format from the file suffix.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from jietong.wfm.forecasting.evaluate import BacktestReport, ForecastResult
from jietong.wfm.scheduling.model import Coverage, Requirements, ScheduleResult

__all__ = [
    "accuracy_frame",
    "coverage_frame",
    "forecast_frame",
    "requirements_frame",
    "schedule_tables",
    "shifts_frame",
    "to_csv_bytes",
    "to_xlsx_bytes",
    "write_tables",
]


def forecast_frame(results: Sequence[ForecastResult]) -> pd.DataFrame:
    """One row per forecast interval: series, interval_start, forecast, model."""
    parts = [
        pd.DataFrame(
            {
                "series": result.name,
                "interval_start": pd.to_datetime(result.forecast.starts),
                "forecast": result.forecast.counts.round(3),
                "model": result.model,
            }
        )
        for result in results
    ]
    columns = ["series", "interval_start", "forecast", "model"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def accuracy_frame(reports: Mapping[str, BacktestReport]) -> pd.DataFrame:
    """Per series and model: WAPE, MASE, whether it is a baseline and was chosen."""
    rows = [
        {
            "series": name,
            "model": score.name,
            "wape": score.wape,
            "mase": score.mase,
            "baseline": score.baseline,
            "chosen": score.name == report.best,
            "holdout_start": report.holdout_start.isoformat(),
            "holdout_end": report.holdout_end.isoformat(),
            "error": score.error or "",
        }
        for name, report in reports.items()
        for score in report.scores
    ]
    return pd.DataFrame(rows)


def requirements_frame(requirements: Requirements) -> pd.DataFrame:
    """interval_start, required."""
    return pd.DataFrame(
        {"interval_start": list(requirements.starts), "required": requirements.required}
    )


def shifts_frame(result: ScheduleResult) -> pd.DataFrame:
    """One row per shift: agent, start, end, paid minutes and each break's start/end."""
    names = sorted({b.name for s in result.shifts for b in s.breaks})
    rows = []
    for shift in result.shifts:
        row: dict[str, object] = {
            "agent": shift.agent,
            "date": shift.start.date().isoformat(),
            "start": shift.start,
            "end": shift.end,
            "minutes": int((shift.end - shift.start).total_seconds() // 60),
        }
        placed = {b.name: b for b in shift.breaks}
        for name in names:
            row[f"{name}_start"] = placed[name].start if name in placed else None
            row[f"{name}_end"] = placed[name].end if name in placed else None
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["agent", "date", "start", "end", "minutes"]
        + [f"{n}_{edge}" for n in names for edge in ("start", "end")],
    )


def coverage_frame(coverage: Coverage) -> pd.DataFrame:
    """interval_start, required, scheduled, under, over."""
    return pd.DataFrame(
        {
            "interval_start": list(coverage.starts),
            "required": coverage.required,
            "scheduled": coverage.scheduled,
            "under": (coverage.required - coverage.scheduled).clip(min=0),
            "over": (coverage.scheduled - coverage.required).clip(min=0),
        }
    )


def schedule_tables(result: ScheduleResult) -> dict[str, pd.DataFrame]:
    """Sheets for a schedule: shifts, coverage and a one-row summary."""
    summary = pd.DataFrame(
        [
            {
                "status": result.status,
                "objective": result.objective,
                "shifts": len(result.shifts),
                "agents_used": len({s.agent for s in result.shifts}),
                "headcount": result.headcount,
                "under_agent_intervals": result.coverage.under,
                "over_agent_intervals": result.coverage.over,
                "solve_seconds": round(result.solve_seconds, 3),
            }
        ]
    )
    return {
        "shifts": shifts_frame(result),
        "coverage": coverage_frame(result.coverage),
        "summary": summary,
    }


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header row and no index."""
    text: str = frame.to_csv(index=False)
    return text.encode("utf-8")


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """An XLSX workbook with one sheet per table (names cut to Excel's 31 characters)."""
    if not sheets:
        raise ValueError("an XLSX workbook needs at least one sheet")
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()


def write_tables(path: Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """Write ``sheets`` to ``path``: all sheets for .xlsx, the first one for .csv."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        path.write_bytes(to_xlsx_bytes(sheets))
    elif suffix == ".csv":
        first = next(iter(sheets.values()))
        path.write_bytes(to_csv_bytes(first))
    else:
        raise ValueError(f"unsupported table format {suffix!r}; use .csv or .xlsx")
