"""Charts for forecasts, staffing coverage and service level (PNG or SVG bytes).

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot, so there is no
global state and no display: safe inside a web handler and on headless machines (the Agg
canvas renders PNG, matplotlib's SVG backend renders SVG). Each ``*_figure`` function
returns the Figure; :func:`render` turns any figure into bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jietong.wfm.forecasting.evaluate import ForecastResult
from jietong.wfm.forecasting.series import IntervalSeries
from jietong.wfm.scheduling.model import Coverage

__all__ = [
    "ImageFormat",
    "coverage_figure",
    "forecast_figure",
    "plot_coverage",
    "plot_forecast",
    "plot_service_level",
    "render",
    "service_level_figure",
]

ImageFormat = Literal["png", "svg"]
_SIZE = (11.0, 4.5)


def render(figure: Figure, fmt: ImageFormat = "png", dpi: int = 110) -> bytes:
    """Encode ``figure`` as PNG or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"unsupported image format {fmt!r}; use png or svg")
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _day_ticks(starts: Sequence[dt.datetime]) -> tuple[list[int], list[str]]:
    """One tick at the first interval of each day, labelled with the date.

    Charts put open intervals side by side (x = position, not time) so that closed
    nights and weekends do not fill the axis; the ticks say where each day starts.
    """
    ticks: list[int] = []
    labels: list[str] = []
    previous: dt.date | None = None
    for i, start in enumerate(starts):
        if start.date() != previous:
            ticks.append(i)
            labels.append(start.strftime("%a %m-%d"))
            previous = start.date()
    return ticks, labels


def _as_datetimes(starts: npt.NDArray[np.datetime64]) -> list[dt.datetime]:
    return [s.astype("datetime64[m]").astype(dt.datetime) for s in starts]


def forecast_figure(
    actual: IntervalSeries | None,
    predicted: IntervalSeries,
    title: str = "Contact volume: forecast vs actual",
    future: IntervalSeries | None = None,
) -> Figure:
    """Actual and forecast counts per interval, open intervals side by side.

    ``predicted`` is aligned to ``actual`` (e.g. a backtest); ``future`` is appended after
    them as the forecast beyond the data.
    """
    figure = Figure(figsize=_SIZE)
    axes = figure.add_subplot()
    starts = np.unique(np.concatenate([s.starts for s in (actual, predicted) if s is not None]))
    index = {value: i for i, value in enumerate(starts.tolist())}
    if actual is not None:
        x = [index[v] for v in actual.starts.tolist()]
        axes.plot(x, actual.counts, color="#333333", linewidth=1.0, label="actual")
    x = [index[v] for v in predicted.starts.tolist()]
    axes.plot(x, predicted.counts, color="#d1495b", linewidth=1.2, label="forecast")
    labels_at = _as_datetimes(starts)
    if future is not None and len(future):
        offset = len(starts)
        axes.axvline(offset - 0.5, color="#999999", linestyle=":")
        axes.plot(
            offset + np.arange(len(future)),
            future.counts,
            color="#00798c",
            linewidth=1.2,
            label="forecast (future)",
        )
        labels_at += _as_datetimes(future.starts)
    ticks, labels = _day_ticks(labels_at)
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_ylabel(f"contacts per {predicted.interval_minutes} min")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    return figure


def plot_forecast(result: ForecastResult, fmt: ImageFormat = "png") -> bytes:
    """Backtest actual vs chosen model, then the future forecast, as image bytes."""
    accuracy = result.report.score(result.model).wape
    title = f"{result.name}: {result.model} (backtest WAPE {accuracy:.1%})"
    return render(
        forecast_figure(result.holdout_actual, result.holdout_forecast, title, result.forecast),
        fmt,
    )


def coverage_figure(coverage: Coverage, title: str = "Required vs scheduled agents") -> Figure:
    """Required agents (steps) and scheduled agents per interval, gaps shaded."""
    figure = Figure(figsize=_SIZE)
    axes = figure.add_subplot()
    n = len(coverage.starts)
    edges = np.arange(n + 1)
    required = coverage.required.astype(float)
    scheduled = coverage.scheduled.astype(float)
    # Intervals are [start, end): stairs and edge-aligned bars draw them exactly.
    gap = scheduled - required
    axes.bar(
        edges[:-1],
        np.maximum(-gap, 0),
        bottom=scheduled,
        width=1.0,
        align="edge",
        color="#d1495b",
        alpha=0.35,
        label="under",
    )
    axes.bar(
        edges[:-1],
        np.maximum(gap, 0),
        bottom=required,
        width=1.0,
        align="edge",
        color="#edae49",
        alpha=0.35,
        label="over",
    )
    axes.stairs(required, edges, baseline=None, color="#333333", linewidth=1.2, label="required")
    axes.stairs(scheduled, edges, baseline=None, color="#00798c", linewidth=1.2, label="scheduled")
    top = max(float(required.max(initial=0)), float(scheduled.max(initial=0)), 1.0)
    axes.set_ylim(0, top * 1.15)
    ticks, labels = _day_ticks(list(coverage.starts))
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_ylabel("agents")
    axes.set_title(f"{title} (under {coverage.under}, over {coverage.over} agent-intervals)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    return figure


def plot_coverage(coverage: Coverage, fmt: ImageFormat = "png") -> bytes:
    """:func:`coverage_figure` as image bytes."""
    return render(coverage_figure(coverage), fmt)


def service_level_figure(
    starts: Sequence[dt.datetime],
    service_level: Sequence[float] | npt.NDArray[np.float64],
    target: float | None = 0.8,
    title: str = "Simulated service level by interval",
) -> Figure:
    """Service level (fraction 0..1) per interval, with the target line if given."""
    levels = np.asarray(service_level, dtype=np.float64)
    if levels.size != len(starts):
        raise ValueError("starts and service_level differ in length")
    figure = Figure(figsize=_SIZE)
    axes = figure.add_subplot()
    x = np.arange(levels.size)
    colors = ["#00798c" if target is None or v >= target else "#d1495b" for v in levels]
    axes.bar(x, levels, width=0.9, color=colors)
    if target is not None:
        axes.axhline(target, color="#333333", linestyle="--", label=f"target {target:.0%}")
        axes.legend(loc="lower right")
    ticks, labels = _day_ticks(list(starts))
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("service level")
    axes.set_title(title)
    axes.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return figure


def plot_service_level(
    starts: Sequence[dt.datetime],
    service_level: Sequence[float] | npt.NDArray[np.float64],
    target: float | None = 0.8,
    fmt: ImageFormat = "png",
) -> bytes:
    """:func:`service_level_figure` as image bytes."""
    return render(service_level_figure(starts, service_level, target), fmt)
