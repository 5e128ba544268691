"""`jietong media serve` builds the same argv the supervisor uses."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from jietong.app.cli import media
from jietong.telephony.media.main import build_parser


def test_serve_options_are_the_media_process_options(monkeypatch, tmp_path):
    seen: list[list[str]] = []
    monkeypatch.setattr("jietong.telephony.media.main.main", lambda argv: seen.append(argv) or 0)
    root = typer.Typer()
    root.add_typer(media.app, name="media")
    result = CliRunner().invoke(
        root, ["media", "serve", "--media-root", str(tmp_path), "--rtp-ports", "20000-20100"]
    )
    assert result.exit_code == 0, result.output
    args = build_parser().parse_args(seen[0])
    assert (args.media_root, args.rtp_ports, args.nice) == (tmp_path, (20000, 20100), 0)
