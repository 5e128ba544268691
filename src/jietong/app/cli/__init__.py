"""The `jietong` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import typer

from jietong.app.cli import importing, media, platform, secrets, wfm

app = typer.Typer(
    name="jietong",
    help="Jietong (接通): an open-source omnichannel contact center.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
platform.register(app)
app.add_typer(importing.app, name="import")
app.add_typer(media.app, name="media")
app.add_typer(secrets.app, name="secrets")
app.add_typer(wfm.app, name="wfm")


def main() -> None:
    app()
