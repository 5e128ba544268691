"""Start-up of a media process: arguments, secret on stdin, readiness line on stdout.

The shared secret is read from the first line of standard input (never argv or the
environment, which other local users can read from /proc). Once listening, the process
prints one JSON line ``{"ready": true, "control": ..., "pid": ...}`` and nothing more on
stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import sys
from pathlib import Path

from jietong.telephony.media.engine import EngineConfig
from jietong.telephony.media.server import ControlServer, ServerConfig


def _port_range(text: str) -> tuple[int, int] | None:
    if text in ("", "0", "any"):
        return None
    low, _, high = text.partition("-")
    first, last = int(low), int(high or low)
    if not 1024 <= first <= last <= 65535:
        raise argparse.ArgumentTypeError("expected LOW-HIGH within 1024-65535")
    return first, last


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jietong-media", description=__doc__)
    parser.add_argument("--control", default="tcp:127.0.0.1:0", help="tcp:HOST:PORT or unix:PATH")
    parser.add_argument(
        "--media-root", type=Path, required=True, help="prompts and recordings live under here"
    )
    parser.add_argument("--bind-host", default="127.0.0.1", help="address RTP sockets bind to")
    parser.add_argument(
        "--rtp-ports", type=_port_range, default=None, help="LOW-HIGH (default: any)"
    )
    parser.add_argument("--rtp-timeout", type=float, default=30.0, help="seconds without RTP")
    parser.add_argument("--name", default="media-0")
    parser.add_argument("--exit-with-parent", action="store_true")
    parser.add_argument("--nice", type=int, default=0, help="raise priority (negative) if allowed")
    return parser


def raise_file_limit() -> None:
    """Every leg is a socket: take the hard limit on open files, not the soft default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def raise_priority(nice: int) -> None:
    """Renice the process and, where the kernel groups tasks by session (autogroup), the
    session too: there a task's nice only orders it against its own session, so the
    tick would otherwise get one session's share of the CPU however busy the rest is."""
    try:
        os.nice(nice)
        autogroup = Path("/proc/self/autogroup")
        if autogroup.exists():
            autogroup.write_text(str(nice))
    except OSError as exc:  # lowering niceness needs CAP_SYS_NICE: run without it
        logging.warning("cannot change priority by %d: %s", nice, exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s media %(levelname)s %(message)s")  # fmt: skip
    secret = sys.stdin.readline().strip()
    if not secret:
        print("media: the shared secret must be the first line of stdin", file=sys.stderr)
        return 2
    raise_file_limit()
    if args.nice:
        raise_priority(args.nice)
    engine_config = EngineConfig(args.media_root, args.bind_host, args.rtp_ports, args.rtp_timeout)
    server = ControlServer(
        engine_config, ServerConfig(args.control, secret, args.name, args.exit_with_parent)
    )
    # Start-up garbage is permanent: keep it out of every later full collection.
    gc.collect()
    gc.freeze()
    server.announce(sys.stdout)
    server.serve_forever()
    return 0
