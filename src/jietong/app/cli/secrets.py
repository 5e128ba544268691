"""Secrets at rest (ADR 0016): `jietong secrets rotate` and `jietong secrets new-key`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import Progress

from jietong.app.cli.platform import DataDirOption
from jietong.app.settings import load_settings

console = Console()
app = typer.Typer(help="Channel secrets and trunk passwords at rest.", no_args_is_help=True)


@app.command("new-key")
def new_key() -> None:
    """Print a new key, to put first in JIETONG_SECRETS_KEYS (or the key file)."""
    from jietong.storage.secretbox import SecretBox

    typer.echo(SecretBox.new_key().decode())


@app.command("rotate")
def rotate(data_dir: DataDirOption = None) -> None:
    """Re-seal every stored secret with the first key (plaintext ones too), in one
    transaction; afterwards the other keys can be removed."""
    from jietong.app import secrets_at_rest
    from jietong.app.platform import build_platform
    from jietong.storage.migrate import upgrade
    from jietong.storage.secretbox import UndecryptableSecret

    try:
        overrides = {} if data_dir is None else {"data_dir": data_dir}
        platform = build_platform(load_settings(**overrides))
    except ValueError as exc:  # a malformed key: the message names it by position only
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        upgrade(platform.engine)
        with Progress(console=console, transient=True) as progress, platform.uow() as uow:
            task = progress.add_task("re-sealing", total=None)
            done = secrets_at_rest.rotate(
                uow,
                started=lambda total: progress.update(task, total=total),
                advanced=lambda: progress.advance(task),
            )
    except UndecryptableSecret as exc:
        console.print(f"[red]error:[/] {exc}; nothing was changed")
        raise typer.Exit(2) from None
    finally:
        platform.close()
    console.print(
        f"re-sealed {done.total} rows with the first key: "
        f"{done.channel_accounts} channel accounts, {done.sip_trunks} SIP trunks"
    )
