"""WFM commands (filled in by the WFM work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `jietong wfm` group."""
