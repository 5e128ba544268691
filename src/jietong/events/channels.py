"""Events of the channels: deliveries, identity merges (issue 3)."""

from __future__ import annotations
