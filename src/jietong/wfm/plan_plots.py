"""The three charts of a plan, with every word replaceable (for translated web pages).

Built on :mod:`jietong.wfm.plots` (forecast vs actual, required vs scheduled, simulated
service level) and then relabelled from a :class:`ChartText`, so the CLI gets the English
defaults and the web page passes its catalogue's wording. A font file can be given for
scripts the default font lacks (Chinese): it is set on each text of the figure rather
than registered in matplotlib's global font manager, so nothing leaks between requests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text

from jietong.wfm import plots
from jietong.wfm.planning import PlanResult
from jietong.wfm.scheduling import Coverage

__all__ = ["CHART_KINDS", "ChartText", "plan_charts"]

CHART_KINDS = ("forecast", "coverage", "service_level")
_TICK = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d\d)-(\d\d)$")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ChartText:
    """Every word on the charts; ``{placeholders}`` are filled in. ``weekdays`` Monday
    first; ``day_label`` formats the tick at each day's first interval; ``model_names``
    translates forecasting model names (unlisted ones are shown as they are)."""

    forecast_title: str = "{name}: {model} (backtest WAPE {wape})"
    actual: str = "actual"
    forecast: str = "forecast"
    future: str = "forecast (future)"
    contacts_axis: str = "contacts per {minutes} min"
    coverage_title: str = "Required vs scheduled agents (under {under}, over {over})"
    requirement_title: str = "Agents required per interval (not scheduled)"
    required: str = "required"
    scheduled: str = "scheduled"
    under: str = "under"
    over: str = "over"
    agents_axis: str = "agents"
    service_level_title: str = "Simulated service level by interval ({replications} runs)"
    service_level_axis: str = "service level"
    target: str = "target {target}"
    weekdays: tuple[str, ...] = _WEEKDAYS
    day_label: str = "{weekday} {month}-{day}"
    model_names: Mapping[str, str] = field(default_factory=dict)
    font_path: str | None = None


def _percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "-"


def _relabel_legend(axes: Axes, names: dict[str, str]) -> None:
    legend = axes.get_legend()
    if legend is None:
        return
    for label in legend.get_texts():
        label.set_text(names.get(label.get_text(), label.get_text()))


def _relabel_ticks(axes: Axes, text: ChartText) -> None:
    labels = []
    for tick in axes.get_xticklabels():
        match = _TICK.match(tick.get_text())
        if match is None:
            labels.append(tick.get_text())
            continue
        weekday = text.weekdays[_WEEKDAYS.index(match.group(1))]
        labels.append(text.day_label.format(weekday=weekday, month=match[2], day=match[3]))
    axes.set_xticks(axes.get_xticks(), labels, rotation=30, ha="right")


def _finish(figure: Figure, text: ChartText) -> Figure:
    for axes in figure.axes:
        _relabel_ticks(axes, text)
    if text.font_path is not None:
        for item in figure.findobj(Text):
            assert isinstance(item, Text)
            size = item.get_fontsize()
            item.set_fontproperties(FontProperties(fname=text.font_path, size=size))
    figure.tight_layout()
    return figure


def forecast_chart(plan: PlanResult, text: ChartText) -> Figure:
    """Backtest actual vs the chosen model, then the future forecast."""
    result = plan.forecast
    figure = plots.forecast_figure(
        result.holdout_actual, result.holdout_forecast, "", result.forecast
    )
    axes = figure.axes[0]
    wape = _percent(result.report.score(result.model).wape)
    model = text.model_names.get(result.model, result.model)
    axes.set_title(text.forecast_title.format(name=result.name, model=model, wape=wape))
    axes.set_ylabel(text.contacts_axis.format(minutes=result.forecast.interval_minutes))
    names = {"actual": text.actual, "forecast": text.forecast}
    _relabel_legend(axes, names | {"forecast (future)": text.future})
    return _finish(figure, text)


def coverage_chart(plan: PlanResult, text: ChartText) -> Figure:
    """Required (with shrinkage) vs scheduled agents; without a schedule the requirement
    alone, drawn as both lines so the chart says plainly that nothing was scheduled."""
    p = plan.intervals
    if plan.schedule is not None:
        coverage = plan.schedule.coverage
        title = text.coverage_title.format(under=coverage.under, over=coverage.over)
    else:
        coverage = Coverage(p.starts, p.required_heads, p.required_heads, p.interval_minutes)
        title = text.requirement_title
    figure = plots.coverage_figure(coverage)
    axes = figure.axes[0]
    axes.set_title(title)
    axes.set_ylabel(text.agents_axis)
    names = {"required": text.required, "scheduled": text.scheduled}
    _relabel_legend(axes, names | {"under": text.under, "over": text.over})
    return _finish(figure, text)


def service_level_chart(plan: PlanResult, text: ChartText) -> Figure | None:
    """Simulated service level per interval against the target (None without simulation)."""
    if plan.replications_run == 0:
        return None
    p = plan.intervals
    target = plan.config.targets.service_level
    # Intervals where nothing was offered have no service level: NaN draws no bar.
    figure = plots.service_level_figure(p.starts, p.sim_service_level, target, "")
    axes = figure.axes[0]
    axes.set_title(text.service_level_title.format(replications=plan.replications_run))
    axes.set_ylabel(text.service_level_axis)
    if target is not None:
        _relabel_legend(axes, {f"target {target:.0%}": text.target.format(target=f"{target:.0%}")})
    return _finish(figure, text)


def plan_charts(plan: PlanResult, text: ChartText | None = None) -> dict[str, Figure]:
    """The charts of :data:`CHART_KINDS` that the plan has (no simulation: no SL chart)."""
    words = text or ChartText()
    charts = {"forecast": forecast_chart(plan, words), "coverage": coverage_chart(plan, words)}
    level = service_level_chart(plan, words)
    if level is not None:
        charts["service_level"] = level
    return charts
