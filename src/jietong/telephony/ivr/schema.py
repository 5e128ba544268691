"""IVR flows as data: nodes with typed steps, validated as a whole.

A flow is a graph: ``start`` names the first node; each node holds one step, and a
step names the node(s) that follow it. Steps that end the IVR (queue, voicemail,
callback, transfer, hangup) are its leaves and yield an `IvrOutcome`. Prompts are given
per language: a text (spoken by espeak-ng, cached) or the name of an uploaded prompt.

`Flow` validation rejects, with a message naming the node: references to unknown nodes,
prompts missing a language of the flow, and loops that never wait for the caller (a
cycle of hours/lookup/language-free steps would spin forever without the caller doing
anything).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jietong.routing.hours import BusinessHours

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Language = Literal["zh-CN", "en"]
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Variable = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,31})\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(_Model):
    """What to say, per language: ``text`` (generated with espeak-ng) or ``file`` (the
    name of an uploaded prompt). Text may use ``{variable}`` placeholders."""

    text: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=1000)]] = Field(
        default_factory=dict
    )
    file: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=dict
    )

    def languages(self) -> set[str]:
        return set(self.text) | set(self.file)


class Play(_Model):
    type: Literal["play"] = "play"
    prompt: Prompt
    next: NodeId
    interruptible: bool = False


class Menu(_Model):
    """Play ``prompt``, wait for one key; a key in ``options`` goes to its node. An
    unlisted key plays ``invalid`` and no key within ``timeout_s`` plays ``no_input``,
    then the menu repeats, at most ``retries`` times, then ``on_failure``."""

    type: Literal["menu"] = "menu"
    prompt: Prompt
    options: dict[Digit, NodeId] = Field(min_length=1, max_length=12)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    invalid: Prompt | None = None
    no_input: Prompt | None = None
    on_failure: NodeId


class Collect(_Model):
    """Collect ``min_digits``..``max_digits`` digits into ``variable`` (ending early on
    ``terminator``); too few digits count as a failure and the prompt repeats."""

    type: Literal["collect"] = "collect"
    prompt: Prompt
    variable: Variable
    min_digits: int = Field(default=1, ge=1, le=32)
    max_digits: int = Field(default=16, ge=1, le=32)
    terminator: Digit | None = "#"
    first_digit_timeout_s: float = Field(default=6.0, gt=0, le=60)
    inter_digit_timeout_s: float = Field(default=3.0, gt=0, le=30)
    retries: int = Field(default=2, ge=0, le=5)
    invalid: Prompt | None = None
    next: NodeId
    on_failure: NodeId

    @model_validator(mode="after")
    def _bounds(self) -> Collect:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits exceeds max_digits")
        return self


class Hours(_Model):
    """Branch on business hours: ``holiday`` (a public holiday, if given), ``open`` or
    ``closed`` (outside the windows, including holidays when ``holiday`` is absent)."""

    type: Literal["hours"] = "hours"
    hours: BusinessHours = Field(default_factory=BusinessHours)
    open: NodeId
    closed: NodeId
    holiday: NodeId | None = None


class LanguageChoice(_Model):
    """Say ``prompt`` in each of the flow's languages in turn; a key in ``options`` sets
    ``variables.language`` (and so the prompts that follow); no key or another key
    sets ``default``."""

    type: Literal["language"] = "language"
    prompt: Prompt
    options: dict[Digit, Language] = Field(min_length=1, max_length=12)
    default: Language = "zh-CN"
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    next: NodeId


class Lookup(_Model):
    """GET ``url`` (``{variable}`` placeholders filled, URL-quoted) from a back-office
    endpoint; a JSON object's fields named in ``results`` go into variables. Any error,
    non-2xx answer or a time-out past ``timeout_s`` takes ``on_failure``."""

    type: Literal["lookup"] = "lookup"
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]
    timeout_s: float = Field(default=3.0, gt=0, le=10)
    results: dict[Variable, Annotated[str, StringConstraints(min_length=1, max_length=100)]] = (
        Field(default_factory=dict)
    )
    next: NodeId
    on_failure: NodeId


class Queue(_Model):
    type: Literal["queue"] = "queue"
    queue_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    prompt: Prompt | None = None


class Voicemail(_Model):
    type: Literal["voicemail"] = "voicemail"
    prompt: Prompt
    max_seconds: float = Field(default=120.0, gt=0, le=600)
    queue_id: Annotated[str, StringConstraints(max_length=64)] | None = None  # for the case


class Callback(_Model):
    """Ask for a callback: to the number in ``number_variable`` if set, else the caller's."""

    type: Literal["callback"] = "callback"
    prompt: Prompt
    number_variable: Variable | None = None
    queue_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class Transfer(_Model):
    type: Literal["transfer"] = "transfer"
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{3,20}$")]
    prompt: Prompt | None = None


class Hangup(_Model):
    type: Literal["hangup"] = "hangup"
    prompt: Prompt | None = None


Step = Annotated[
    Play | Menu | Collect | Hours | LanguageChoice | Lookup | Queue | Voicemail | Callback
    | Transfer | Hangup,
    Field(discriminator="type"),
]  # fmt: skip
# Steps during which the caller is heard or a prompt plays: a loop through one of them
# advances at the caller's pace. Hours and lookups take no caller time.
_WAITING = (Play, Menu, Collect, LanguageChoice)


class Flow(_Model):
    start: NodeId
    languages: list[Language] = Field(default_factory=lambda: list(LANGUAGES), min_length=1)
    nodes: dict[NodeId, Step] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _coherent(self) -> Flow:
        problems = list(self._problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> Iterator[str]:
        if self.start not in self.nodes:
            yield f"start node '{self.start}' does not exist"
        for node_id, step in self.nodes.items():
            for where, target in successors(step):
                if target not in self.nodes:
                    yield f"node '{node_id}': {where} goes to unknown node '{target}'"
            for where, prompt in prompts_of(step):
                missing = [lang for lang in self.languages if lang not in prompt.languages()]
                if missing:
                    yield f"node '{node_id}': {where} has no prompt for {', '.join(missing)}"
            if isinstance(step, LanguageChoice):
                chosen = set(step.options.values()) | {step.default}
                if not chosen <= set(self.languages):
                    yield f"node '{node_id}': offers a language the flow has no prompts in"
        yield from self._busy_loops()

    def _busy_loops(self) -> Iterator[str]:
        """Cycles made only of steps that never wait (found by DFS on that subgraph)."""
        busy = {n for n, s in self.nodes.items() if not isinstance(s, _WAITING)}
        state: dict[str, int] = {}  # 1 on the stack, 2 done

        def visit(node: str, path: list[str]) -> Iterator[str]:
            state[node] = 1
            for _, target in successors(self.nodes[node]):
                if target not in busy:
                    continue
                if state.get(target) == 1:
                    loop = [*path[path.index(target) :], target] if target in path else [target]
                    yield f"loop with no wait: {' -> '.join(loop)}"
                elif target not in state:
                    yield from visit(target, [*path, target])
            state[node] = 2

        for node in sorted(busy):
            if node not in state:
                yield from visit(node, [node])


def successors(step: Step) -> list[tuple[str, str]]:
    """(where, node) pairs a step can go to."""
    out: list[tuple[str, str]] = []
    if isinstance(step, Play | Collect | LanguageChoice | Lookup):
        out.append(("next", step.next))
    if isinstance(step, Menu):
        out += [(f"option {digit}", node) for digit, node in step.options.items()]
    if isinstance(step, Menu | Collect | Lookup):
        out.append(("on_failure", step.on_failure))
    if isinstance(step, Hours):
        out += [("open", step.open), ("closed", step.closed)]
        if step.holiday is not None:
            out.append(("holiday", step.holiday))
    return out


def prompts_of(step: Step) -> list[tuple[str, Prompt]]:
    out: list[tuple[str, Prompt]] = []
    for name in ("prompt", "invalid", "no_input"):
        prompt = getattr(step, name, None)
        if isinstance(prompt, Prompt):
            out.append((name, prompt))
    return out
