"""The IVR interpreter: runs a `Flow` on one answered call's `CallAudio`.

`run_flow` walks the nodes from ``flow.start`` and returns an `IvrOutcome`: where the
call goes next (a queue, a number, voicemail, a callback request, hang up) or that the
caller left (``abandoned``). It never raises for the caller's behaviour or a back-office
failure: `CallGone` becomes ``abandoned``, a failed lookup takes its failure branch, a
prompt that cannot be produced is skipped (logged) rather than leaving the caller in
silence forever. Every node visited is reported to ``on_node`` (the call service records
it as a leg event: the CDR's IVR path and abandon point).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from jietong.core.ids import new_id
from jietong.routing.hours import calendar_for, is_open
from jietong.telephony.ivr import schema as s
from jietong.telephony.ports import CallAudio, CallGone, CallVariables, Recorded

log = logging.getLogger(__name__)

OutcomeKind = Literal["queue", "transfer", "voicemail", "callback", "hangup", "abandoned"]
NodeObserver = Callable[[str, str], Awaitable[None]]


class PromptSource(Protocol):
    async def resolve(self, prompt: s.Prompt, language: str, variables: Mapping[str, str]) -> Path:
        """The WAV file of ``prompt`` in ``language``; raises on failure."""


@dataclass(frozen=True, slots=True)
class IvrOutcome:
    """Where the IVR leaves the call. ``target``: the queue id (queue), the number
    (transfer, callback); ``queue_id`` for voicemail/callback, when the flow names one;
    ``recording`` for voicemail; ``path``: the nodes visited in order."""

    kind: OutcomeKind
    variables: CallVariables
    target: str | None = None
    queue_id: str | None = None
    recording: Recorded | None = None
    path: tuple[str, ...] = ()


@dataclass
class IvrContext:
    audio: CallAudio
    prompts: PromptSource
    caller: str  # the caller's number (E.164 when known): the default callback number
    recordings_dir: Path  # voicemail goes here (inside the media root)
    now: Callable[[], datetime]
    http: httpx.AsyncClient | None = None
    on_node: NodeObserver | None = None
    # A flow that somehow keeps going (menus retried forever by a stuck key) still ends.
    max_steps: int = 500


@dataclass
class _Run:
    flow: s.Flow
    ctx: IvrContext
    variables: CallVariables
    path: list[str] = field(default_factory=list)
    pending: str | None = None  # a key pressed during an interruptible prompt


Next = str | IvrOutcome


async def run_flow(
    flow: s.Flow, ctx: IvrContext, variables: CallVariables | None = None
) -> IvrOutcome:
    """Run ``flow`` to its outcome (see the module docstring)."""
    run = _Run(flow, ctx, variables or CallVariables(language=flow.languages[0]))
    node = flow.start
    try:
        for _ in range(ctx.max_steps):
            step = flow.nodes[node]
            run.path.append(node)
            if ctx.on_node is not None:
                await ctx.on_node(node, step.type)
            result = await _STEPS[type(step)](run, step)
            if isinstance(result, IvrOutcome):
                return result
            node = result
        log.warning("IVR flow exceeded %d steps; hanging up", ctx.max_steps)
        return _outcome(run, "hangup")
    except CallGone:
        return _outcome(run, "abandoned")


def _outcome(run: _Run, kind: OutcomeKind, **extra: object) -> IvrOutcome:
    return IvrOutcome(kind, run.variables, path=tuple(run.path), **extra)  # type: ignore[arg-type]


async def _say(run: _Run, prompt: s.Prompt | None, *, interruptible: bool) -> str | None:
    """Play ``prompt`` in the caller's language; the key that interrupted it, if any."""
    if prompt is None:
        return None
    language = run.variables.language
    if language not in prompt.languages():
        language = run.flow.languages[0]
    try:
        path = await run.ctx.prompts.resolve(prompt, language, run.variables.values)
    except CallGone:
        raise
    except Exception:
        log.exception("IVR prompt unavailable; skipped")
        return None
    return await run.ctx.audio.play(path, interruptible=interruptible)


async def _key(run: _Run, prompt: s.Prompt, timeout_s: float) -> str | None:
    """One key: typed ahead, pressed during the prompt, or within ``timeout_s`` after."""
    if run.pending is not None:
        typed, run.pending = run.pending, None
        return typed
    pressed = await _say(run, prompt, interruptible=True)
    if pressed is not None:
        return pressed
    got = await run.ctx.audio.collect(
        max_digits=1, first_digit_timeout_s=timeout_s, inter_digit_timeout_s=timeout_s,
        terminator=None,
    )  # fmt: skip
    return got or None


async def _play(run: _Run, step: s.Play) -> Next:
    digit = await _say(run, step.prompt, interruptible=step.interruptible)
    run.pending = digit
    return step.next


async def _menu(run: _Run, step: s.Menu) -> Next:
    for attempt in range(step.retries + 1):
        digit = await _key(run, step.prompt, step.timeout_s)
        if digit is not None and digit in step.options:
            return step.options[digit]
        if attempt == step.retries:
            break
        complaint = step.no_input if digit is None else step.invalid
        await _say(run, complaint, interruptible=False)
    return step.on_failure


async def _collect(run: _Run, step: s.Collect) -> Next:
    for attempt in range(step.retries + 1):
        first = run.pending or await _say(run, step.prompt, interruptible=True)
        run.pending = None
        if first is not None and first == step.terminator:
            digits = ""
        else:
            digits = await run.ctx.audio.collect(
                max_digits=step.max_digits, first_digit_timeout_s=step.first_digit_timeout_s,
                inter_digit_timeout_s=step.inter_digit_timeout_s, terminator=step.terminator,
                already=first or "",
            )  # fmt: skip
        if len(digits) >= step.min_digits:
            run.variables.values[step.variable] = digits
            return step.next
        if attempt < step.retries:
            await _say(run, step.invalid, interruptible=False)
    return step.on_failure


async def _hours(run: _Run, step: s.Hours) -> Next:
    at = run.ctx.now()
    local = at.astimezone(ZoneInfo(step.hours.timezone)).date()
    calendar = calendar_for(step.hours, range(local.year - 1, local.year + 2))
    holiday = calendar.is_holiday(local) and local not in step.hours.open_dates
    if holiday and step.holiday is not None:
        return step.holiday
    return step.open if is_open(step.hours, calendar, at) else step.closed


async def _language(run: _Run, step: s.LanguageChoice) -> Next:
    """The prompt is said in each of the flow's languages in turn, each in its own voice
    (the caller's language is not known yet); a key cuts it short."""
    digit, run.pending = run.pending, None
    for language in run.flow.languages:
        if digit is not None:
            break
        run.variables.language = language
        digit = await _say(run, step.prompt, interruptible=True)
    if digit is None:
        got = await run.ctx.audio.collect(
            max_digits=1, first_digit_timeout_s=step.timeout_s,
            inter_digit_timeout_s=step.timeout_s, terminator=None,
        )  # fmt: skip
        digit = got or None
    run.variables.language = step.options.get(digit or "", step.default)
    return step.next


async def _lookup(run: _Run, step: s.Lookup) -> Next:
    """A back-office GET bounded by ``timeout_s`` overall (httpx's own timeout is per
    phase, so a slow trickle could outlast it: the outer wait_for is the guarantee)."""
    http = run.ctx.http
    if http is None:
        return step.on_failure
    url = fill_url(step.url, run.variables.values)
    try:
        response = await asyncio.wait_for(http.get(url, timeout=step.timeout_s), step.timeout_s)
        response.raise_for_status()
        body = response.json()
    except (TimeoutError, httpx.HTTPError, ValueError) as exc:
        log.info("IVR lookup failed: %s", exc)
        return step.on_failure
    if not isinstance(body, dict):
        return step.on_failure
    for variable, key in step.results.items():
        value = body.get(key)
        if isinstance(value, str | int | float | bool):
            run.variables.values[variable] = str(value)[:500]
    return step.next


def fill_url(url: str, variables: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders with URL-quoted values: a caller's digits can never
    change the URL's host or path structure."""
    return s.PLACEHOLDER.sub(lambda m: quote(variables.get(m.group(1), ""), safe=""), url)


async def _queue(run: _Run, step: s.Queue) -> Next:
    await _say(run, step.prompt, interruptible=False)
    return _outcome(run, "queue", target=step.queue_id, queue_id=step.queue_id)


async def _voicemail(run: _Run, step: s.Voicemail) -> Next:
    await _say(run, step.prompt, interruptible=False)
    path = run.ctx.recordings_dir / f"voicemail-{new_id()}.wav"
    recorded = await run.ctx.audio.record(path, max_seconds=step.max_seconds, beep=True)
    return _outcome(run, "voicemail", queue_id=step.queue_id, recording=recorded)


async def _callback(run: _Run, step: s.Callback) -> Next:
    number = run.ctx.caller
    if step.number_variable and run.variables.values.get(step.number_variable):
        number = run.variables.values[step.number_variable]
    await _say(run, step.prompt, interruptible=False)
    return _outcome(run, "callback", target=number, queue_id=step.queue_id)


async def _transfer(run: _Run, step: s.Transfer) -> Next:
    await _say(run, step.prompt, interruptible=False)
    return _outcome(run, "transfer", target=step.number)


async def _hangup(run: _Run, step: s.Hangup) -> Next:
    await _say(run, step.prompt, interruptible=False)
    return _outcome(run, "hangup")


_STEPS: dict[type, Callable[[_Run, Any], Awaitable[Next]]] = {
    s.Play: _play, s.Menu: _menu, s.Collect: _collect, s.Hours: _hours,
    s.LanguageChoice: _language, s.Lookup: _lookup, s.Queue: _queue,
    s.Voicemail: _voicemail, s.Callback: _callback, s.Transfer: _transfer, s.Hangup: _hangup,
}  # fmt: skip
