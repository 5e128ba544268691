"""Explicit state machines: a table of legal (from, trigger) -> to moves.

Every lifecycle in Jietong (interaction, case, offer, agent state, call) is one of these.
Illegal moves raise IllegalTransition; legal ones return a Transition to record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from jietong.core.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Transition(Generic[S]):
    from_state: S
    trigger: str
    to_state: S


class StateMachine(Generic[S]):
    def __init__(self, name: str, moves: Mapping[tuple[S, str], S]) -> None:
        self.name = name
        self._moves = dict(moves)

    def fire(self, current: S, trigger: str) -> Transition[S]:
        """Return the transition for `trigger` from `current`, or raise IllegalTransition."""
        try:
            target = self._moves[(current, trigger)]
        except KeyError:
            raise IllegalTransition(
                f"{self.name}: cannot '{trigger}' from state '{current.value}'"
            ) from None
        return Transition(current, trigger, target)

    def triggers_from(self, current: S) -> list[str]:
        """The triggers that are legal from `current`, sorted."""
        return sorted(t for (s, t) in self._moves if s == current)
