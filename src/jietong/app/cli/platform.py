"""Platform commands: demo, serve, db, user, import."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def version() -> None:
        """Print the Jietong version."""
        from jietong import __version__

        typer.echo(__version__)
