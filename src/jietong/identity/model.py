"""Customer vocabulary."""

from __future__ import annotations

from enum import StrEnum


class VipTier(StrEnum):
    NONE = "none"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"

    @property
    def routing_priority(self) -> int:
        """Priority boost routing gives this tier's contacts (higher is served first)."""
        return {"none": 0, "silver": 1, "gold": 2, "platinum": 3}[self.value]
