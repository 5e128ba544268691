"""Events of routing and agent presence (issue 4)."""

from __future__ import annotations
