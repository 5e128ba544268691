"""Workforce planning pages: forecast, staffing, shifts and simulation on the
organisation's own history, with charts and CSV/XLSX downloads.

Who: admins, supervisors and read-only (reporting) users, i.e. the roles that see the whole
organisation, and only while their session or token may read interactions (the plan is
made of them). Agents and back-office users get a 403 page; without a session, /login.

How long: handlers are plain ``def``, so FastAPI runs them in its thread pool and the
event loop keeps serving. A plan is bounded by the form (≤ 14 days, ≥ 15-minute
intervals, ≤ 26 weeks of history) and by fixed budgets (scheduler and simulation seconds,
replications); at most :data:`MAX_PARALLEL` plans are computed at once per process,
further requests get a "busy" page instead of queueing up CPU work.

The charts and downloads are separate requests carrying the same canonical query as the
page. Each process keeps recent plans in a small cache (per organisation, query and
local day), so the page's images and downloads reuse its computation; a miss (another
process, a restart) recomputes the same plan, which is deterministic for its inputs.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from jietong.app.deps import PlatformDep
from jietong.app.platform import Platform
from jietong.app.wfm_data import History, read_history
from jietong.auth.http import authenticate
from jietong.core.errors import AuthenticationFailed, PermissionDenied
from jietong.core.permissions import Permission, has_permission
from jietong.core.tenancy import Actor
from jietong.org import service as org_service
from jietong.web.i18n import translate
from jietong.web.pages import render_page, request_locale
from jietong.web.wfm_form import CHANNELS, INTERVALS, MAX_HORIZON_DAYS, PlanForm, parse_form
from jietong.wfm import export, plots, store
from jietong.wfm.forecasting import ForecastConfig, ForecastInputError
from jietong.wfm.plan_plots import CHART_KINDS, ChartText, plan_charts
from jietong.wfm.planning import (
    PlanConfig,
    PlanInputError,
    PlanResult,
    plan_tables,
    run_plan,
    standard_shift_rules,
)
from jietong.wfm.scheduling import ScheduleConfig
from jietong.wfm.staffing import StaffingTargets

router = APIRouter(include_in_schema=False)

REPLICATIONS = 5
SCHEDULE_SECONDS = 4.0
SIMULATION_SECONDS = 4.0
MAX_PARALLEL = 2
CACHE_SIZE = 16
CACHE_SECONDS = 15 * 60
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CJK_FONT_NAMES = ("wqy-zenhei", "wqy-microhei", "notosanscjk", "sourcehansans", "msyh", "simhei")
_MODELS = ("seasonal_naive", "moving_average", "level_ets", "mstl_ets", "ensemble")


def may_plan(actor: Actor) -> bool:
    """Whether ``actor`` may use workforce planning (see the module docstring)."""
    return actor.sees_whole_organisation and has_permission(actor, Permission.INTERACTIONS_READ)


# --------------------------------------------------------------------------- who is asking


@dataclass(frozen=True)
class _Viewer:
    actor: Actor
    locale: str
    tz: ZoneInfo  # the user's, for times shown to them
    org_tz: ZoneInfo  # the organisation's, in which days and intervals are planned

    def t(self, key: str, **values: str) -> str:
        return translate(self.locale, key, **values)


def _viewer(request: Request, platform: Platform) -> _Viewer | Response:
    """The signed-in viewer, or the response to send instead (/login or 403)."""
    with platform.uow() as uow:
        try:
            actor = authenticate(request, uow)
        except (AuthenticationFailed, PermissionDenied):
            actor = None
        if actor is None:
            return RedirectResponse("/login", status_code=303)
        me = org_service.get_user(uow, actor, actor.user_id)
        org = org_service.get_organisation(uow, actor)
    locale = request_locale(request, me.user.locale, org.locale)
    if not may_plan(actor):
        return render_page(request, "wfm_forbidden.html", locale, status=403)
    org_tz = ZoneInfo(org.timezone)
    return _Viewer(actor, locale, ZoneInfo(me.user.timezone or org.timezone), org_tz)


# --------------------------------------------------------------------------- computing


class PlanError(Exception):
    """A plan that cannot be made, as a catalogue key for the page."""

    def __init__(self, key: str, status: int = 400, **values: str) -> None:
        super().__init__(key)
        self.key, self.status, self.values = key, status, values


@dataclass(frozen=True, eq=False)
class PlanRun:
    """A computed plan and what the page says about its inputs. ``charts`` caches rendered
    SVGs by (kind, locale); it is the only mutable part."""

    form: PlanForm
    history: History
    result: PlanResult
    aht_measured: bool
    computed_at: dt.datetime
    charts: dict[tuple[str, str], bytes] = field(default_factory=dict)


class PlanRuns:
    """Recent plans of this process (bounded, expiring) and the compute slots."""

    def __init__(self, size: int = CACHE_SIZE, seconds: float = CACHE_SECONDS) -> None:
        self._size, self._seconds = size, seconds
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, ...], tuple[float, PlanRun]] = OrderedDict()
        self.slots = threading.BoundedSemaphore(MAX_PARALLEL)

    def get(self, key: tuple[str, ...]) -> PlanRun | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: tuple[str, ...], run: PlanRun) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self._seconds, run)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _runs(request: Request) -> PlanRuns:
    """This app's plan cache, created on first use (a race creates two, one is kept)."""
    state = request.app.state
    runs: PlanRuns | None = getattr(state, "wfm_plan_runs", None)
    if runs is None:
        runs = PlanRuns()
        state.wfm_plan_runs = runs
    return runs


def _config(form: PlanForm, history: History, aht: float, patience: float | None) -> PlanConfig:
    schedule = None
    if form.schedule:
        rules = standard_shift_rules((8.0, 6.0, 4.0))
        schedule = ScheduleConfig(rules=rules, time_limit_seconds=SCHEDULE_SECONDS)
    return PlanConfig(
        targets=StaffingTargets(
            service_level=form.service_level,
            target_seconds=form.target_seconds,
            asa_seconds=form.asa_seconds,
            max_abandon=form.max_abandon,
            max_occupancy=form.max_occupancy,
        ),
        aht_seconds=aht,
        forecast=ForecastConfig(
            interval_minutes=form.interval, horizon_days=form.horizon_days, country=history.region
        ),
        patience_seconds=patience,
        shrinkage=form.shrinkage,
        schedule=schedule,
        replications=REPLICATIONS if form.schedule else 0,
        simulation_budget_seconds=SIMULATION_SECONDS,
    )


def _read(platform: Platform, org_id: str, form: PlanForm) -> History:
    with platform.uow() as uow:
        queue = None
        if form.queue_id is not None:
            # Looked up within the viewer's organisation only: another's id is unknown here.
            queue = store.find_queue(uow.session, org_id, queue_id=form.queue_id)
            if queue is None:
                raise PlanError("wfm.error.queue")
        return read_history(
            uow.session,
            org_id,
            now=uow.now,
            weeks=form.weeks,
            queue=queue,
            channel=form.channel,
        )


def _compute(platform: Platform, org_id: str, form: PlanForm) -> PlanRun:
    history = _read(platform, org_id, form)
    if history.counts.total == 0:
        raise PlanError("wfm.error.no_history")
    aht = form.aht_seconds or history.handling.aht_seconds
    if aht is None:
        raise PlanError("wfm.error.no_aht")
    patience = history.handling.patience_seconds
    if form.max_abandon is not None and patience is None:
        raise PlanError("wfm.error.abandon_needs_patience")
    try:
        series = history.series(form.interval).series
        result = run_plan(series, _config(form, history, aht, patience))
    except (PlanInputError, ForecastInputError) as exc:
        raise PlanError("wfm.error.plan", detail=str(exc)) from exc
    return PlanRun(form, history, result, form.aht_seconds is None, platform.clock())


def _plan(request: Request, platform: Platform, viewer: _Viewer, form: PlanForm) -> PlanRun:
    runs = _runs(request)
    today = platform.clock().astimezone(viewer.org_tz).date().isoformat()
    key = (viewer.actor.org_id, form.query(), today)
    found = runs.get(key)
    if found is not None:
        return found
    if not runs.slots.acquire(timeout=1.0):
        raise PlanError("wfm.error.busy", status=503)
    try:
        run = _compute(platform, viewer.actor.org_id, form)
    finally:
        runs.slots.release()
    runs.put(key, run)
    return run


# --------------------------------------------------------------------------- the page


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}%}"


def _day_label(viewer: _Viewer, day: dt.date) -> str:
    weekday = viewer.t(f"weekday.{day.weekday()}")
    return viewer.t("wfm.day_label", weekday=weekday, date=day.strftime("%m-%d"))


def _queues(platform: Platform, org_id: str) -> list[store.QueueInfo]:
    with platform.uow() as uow:
        return store.list_queues(uow.session, org_id)


def _accuracy(viewer: _Viewer, result: PlanResult) -> dict[str, Any]:
    report = result.forecast.report
    rows = [
        {
            "name": viewer.t(f"wfm.model.{s.name}") if s.name in _MODELS else s.name,
            "wape": _pct(s.wape),
            "mase": "–" if not math.isfinite(s.mase) else f"{s.mase:.3f}",
            "kind": viewer.t("wfm.accuracy.baseline" if s.baseline else "wfm.accuracy.model"),
            "chosen": s.name == report.best,
        }
        for s in report.scores
    ]
    chosen = report.score(report.best)
    baselines = [s for s in report.scores if s.baseline and math.isfinite(s.wape)]
    best_base = min(baselines, key=lambda s: s.wape) if baselines else None
    if chosen.baseline or best_base is None:
        verdict = viewer.t("wfm.accuracy.no_better")
    elif best_base.wape - chosen.wape < 0.0005:  # "better by 0.0 points" would mislead
        verdict = viewer.t("wfm.accuracy.tie", baseline=viewer.t(f"wfm.model.{best_base.name}"))
    else:
        verdict = viewer.t(
            "wfm.accuracy.beats",
            baseline=viewer.t(f"wfm.model.{best_base.name}"),
            points=f"{(best_base.wape - chosen.wape) * 100:.1f}",
        )
    return {
        "rows": rows,
        "verdict": verdict,
        "start": report.holdout_start.isoformat(),
        "end": report.holdout_end.isoformat(),
    }


def _days(viewer: _Viewer, result: PlanResult) -> list[dict[str, str]]:
    rows = []
    for day in result.days:
        sl = viewer.t("wfm.days.not_simulated")
        if day.service_level is not None:
            e = day.service_level
            sl = f"{_pct(e.mean)} ({_pct(max(e.low, 0.0))} – {_pct(min(e.high, 1.0))})"
        below = day.below_target_intervals
        rows.append(
            {
                "date": _day_label(viewer, day.date),
                "contacts": f"{day.contacts:.0f}",
                "required": f"{day.required_hours:.1f}",
                "heads": f"{day.required_heads_hours:.1f}",
                "scheduled": f"{day.scheduled_hours:.1f}",
                "service_level": sl,
                "understaffed": str(day.understaffed_intervals),
                "below": "–" if below is None else str(below),
            }
        )
    return rows


def _summary(viewer: _Viewer, run: PlanRun) -> dict[str, Any]:
    result, history = run.result, run.history
    channel = viewer.t(f"channel.{history.channel}") if history.channel else None
    queue = history.queue.name if history.queue else viewer.t("wfm.form.all_queues")
    name = f"{queue} · {channel or viewer.t('wfm.form.all_channels')}"
    w = history.window
    lines = [
        viewer.t(
            "wfm.result.history",
            first=w.first_day.isoformat(),
            last=w.last_day.isoformat(),
            contacts=str(history.counts.total),
        ),
        viewer.t(
            "wfm.result.aht",
            seconds=f"{result.config.aht_seconds:.0f}",
            source=viewer.t("wfm.result.measured" if run.aht_measured else "wfm.result.entered"),
        ),
    ]
    patience = result.config.patience_seconds
    if patience is not None:
        lines.append(viewer.t("wfm.result.patience", seconds=f"{patience:.0f}"))
    else:
        lines.append(viewer.t("wfm.result.no_patience"))
    lines.append(viewer.t("wfm.result.shrinkage", percent=_pct(result.config.shrinkage, 0)))
    if result.schedule is not None:
        s = result.schedule
        lines.append(
            viewer.t(
                "wfm.schedule.summary",
                shifts=str(len(s.shifts)),
                agents=str(len({x.agent for x in s.shifts})),
                status=viewer.t(f"wfm.schedule.status.{s.status}"),
            )
        )
    overall = None
    if result.service_level is not None:
        e = result.service_level
        overall = viewer.t(
            "wfm.days.overall",
            sl=_pct(e.mean),
            hw=_pct(e.half_width),
            runs=str(result.replications_run),
        )
    return {
        "name": name,
        "lines": lines,
        "overall": overall,
        "computed": viewer.t(
            "wfm.result.computed",
            time=run.computed_at.astimezone(viewer.tz).strftime("%Y-%m-%d %H:%M"),
            tz=str(viewer.tz),
        ),
        "org_time": viewer.t("wfm.result.org_time", tz=str(viewer.org_tz)),
    }


def _charts(viewer: _Viewer, run: PlanRun, query: str) -> list[dict[str, str]]:
    kinds = [k for k in CHART_KINDS if k != "service_level" or run.result.replications_run]
    return [
        {
            "src": f"/wfm/chart/{kind}.svg?{query}",
            "alt": viewer.t(f"wfm.chart.{kind}.alt"),
            "kind": kind,
        }
        for kind in kinds
    ]


def _result_context(viewer: _Viewer, run: PlanRun) -> dict[str, Any]:
    query = run.form.query()
    return {
        "summary": _summary(viewer, run),
        "accuracy": _accuracy(viewer, run.result),
        "days": _days(viewer, run.result),
        "charts": _charts(viewer, run, query),
        "csv_url": f"/wfm/plan.csv?{query}",
        "xlsx_url": f"/wfm/plan.xlsx?{query}",
    }


def _problems(viewer: _Viewer, problems: list[Any]) -> list[str]:
    out = []
    for problem in problems:
        values = dict(problem.values)
        if "field" in values:
            values["field"] = viewer.t(f"wfm.field.{values['field']}")
        out.append(viewer.t(problem.key, **values))
    return out


@router.get("/wfm", response_model=None)
def wfm_page(request: Request, platform: PlatformDep) -> Response:
    viewer = _viewer(request, platform)
    if isinstance(viewer, Response):
        return viewer
    params = _params(request)
    parsed = parse_form(params) if params.get("run") == "1" else PlanForm()
    queues = _queues(platform, viewer.actor.org_id)
    context: dict[str, Any] = {
        "queues": queues,
        "channels": CHANNELS,
        "intervals": INTERVALS,
        "max_horizon": MAX_HORIZON_DAYS,
        "problems": [],
        "result": None,
    }
    status = 200
    if isinstance(parsed, list):
        context["form"] = PlanForm()
        context["problems"] = _problems(viewer, parsed)
        status = 400
    else:
        if params.get("run") != "1" and queues:
            parsed = PlanForm(queue_id=_default_queue(queues))
        context["form"] = parsed
        if params.get("run") == "1":
            try:
                context["result"] = _result_context(
                    viewer, _plan(request, platform, viewer, parsed)
                )
            except PlanError as exc:
                context["problems"] = [viewer.t(exc.key, **exc.values)]
                status = exc.status
    return render_page(request, "wfm.html", viewer.locale, status=status, **context)


def _default_queue(queues: list[store.QueueInfo]) -> str:
    """The queue with voice if any (the usual planning subject), else the first one."""
    return next((q.id for q in queues if "call" in q.channels), queues[0].id)


# --------------------------------------------------------------------------- charts, files


def _run_for(request: Request, platform: Platform) -> tuple[_Viewer, PlanRun] | Response:
    viewer = _viewer(request, platform)
    if isinstance(viewer, Response):
        return viewer
    parsed = parse_form(_params(request))
    if isinstance(parsed, list):
        return Response(status_code=400)
    try:
        return viewer, _plan(request, platform, viewer, parsed)
    except PlanError as exc:
        return Response(viewer.t(exc.key, **exc.values), status_code=exc.status)


@functools.cache
def cjk_font() -> str | None:
    """A font file with Chinese glyphs, if the machine has one (charts in zh-CN)."""
    from matplotlib import font_manager

    for path in sorted(font_manager.findSystemFonts()):
        if any(name in path.lower().replace("_", "") for name in _CJK_FONT_NAMES):
            return path
    return None


def chart_text(locale: str) -> ChartText:
    """The chart wording of ``locale``; English if Chinese glyphs are missing."""
    font = cjk_font() if locale == "zh-CN" else None
    if locale == "zh-CN" and font is None:
        locale = "en"

    def t(key: str) -> str:
        return translate(locale, f"wfm.chart.{key}")

    return ChartText(
        forecast_title=t("forecast_title"),
        actual=t("actual"),
        forecast=t("forecast"),
        future=t("future"),
        contacts_axis=t("contacts_axis"),
        coverage_title=t("coverage_title"),
        requirement_title=t("requirement_title"),
        required=t("required"),
        scheduled=t("scheduled"),
        under=t("under"),
        over=t("over"),
        agents_axis=t("agents_axis"),
        service_level_title=t("service_level_title"),
        service_level_axis=t("service_level_axis"),
        target=t("target"),
        weekdays=tuple(translate(locale, f"weekday.{i}") for i in range(7)),
        day_label=t("day_label"),
        model_names={m: translate(locale, f"wfm.model.{m}") for m in _MODELS},
        font_path=font,
    )


@router.get("/wfm/chart/{kind}.svg", response_model=None)
def wfm_chart(kind: str, request: Request, platform: PlatformDep) -> Response:
    if kind not in CHART_KINDS:
        return Response(status_code=404)
    found = _run_for(request, platform)
    if isinstance(found, Response):
        return found
    viewer, run = found
    cached = run.charts.get((kind, viewer.locale))
    if cached is None:
        figure = plan_charts(run.result, chart_text(viewer.locale)).get(kind)
        if figure is None:
            return Response(status_code=404)
        cached = plots.render(figure, "svg")
        run.charts[(kind, viewer.locale)] = cached
    headers = {"Content-Security-Policy": _SVG_POLICY, "Cache-Control": "private, max-age=600"}
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(cached, media_type="image/svg+xml", headers=headers)


def _download(
    request: Request, platform: Platform, suffix: str, encode: Callable[[PlanRun], bytes]
) -> Response:
    found = _run_for(request, platform)
    if isinstance(found, Response):
        return found
    _, run = found
    day = run.result.days[0].date.isoformat() if run.result.days else "plan"
    headers = {
        "Content-Disposition": f'attachment; filename="jietong-wfm-plan-{day}.{suffix}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    media = "text/csv; charset=utf-8" if suffix == "csv" else _XLSX
    return Response(encode(run), media_type=media, headers=headers)


@router.get("/wfm/plan.csv", response_model=None)
def wfm_csv(request: Request, platform: PlatformDep) -> Response:
    return _download(
        request,
        platform,
        "csv",
        lambda run: export.to_csv_bytes(plan_tables(run.result)["intervals"]),
    )


@router.get("/wfm/plan.xlsx", response_model=None)
def wfm_xlsx(request: Request, platform: PlatformDep) -> Response:
    return _download(
        request, platform, "xlsx", lambda run: export.to_xlsx_bytes(plan_tables(run.result))
    )
