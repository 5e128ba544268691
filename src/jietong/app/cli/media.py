"""`jietong media …`: run a media process by hand (normally Jietong starts its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Media engine: RTP legs, bridges, prompts, recording (one process per core).",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    media_root: Annotated[Path, typer.Option(help="Prompts and recordings live under here.")],
    control: Annotated[str, typer.Option(help="tcp:HOST:PORT or unix:PATH.")] = "tcp:127.0.0.1:0",
    bind_host: Annotated[str, typer.Option(help="Address RTP sockets bind to.")] = "127.0.0.1",
    rtp_ports: Annotated[str, typer.Option(help="LOW-HIGH, or 'any'.")] = "any",
    rtp_timeout: Annotated[
        float, typer.Option(help="Seconds without RTP before a timeout event.")
    ] = 30.0,
    name: Annotated[str, typer.Option(help="Name in logs and reports.")] = "media-0",
    nice: Annotated[int, typer.Option(help="Priority change, e.g. -10 (needs CAP_SYS_NICE).")] = 0,
) -> None:
    """Run one media process. The shared secret is read from the first line of stdin;
    a JSON readiness line with the control address is printed on stdout."""
    from jietong.telephony.media.main import main

    argv = ["--media-root", str(media_root), "--control", control, "--bind-host", bind_host,
            "--rtp-ports", rtp_ports, "--rtp-timeout", str(rtp_timeout), "--name", name,
            "--nice", str(nice)]  # fmt: skip
    raise typer.Exit(main(argv))
