"""The media process's main loop: the tick clock plus the control socket, one thread.

Between ticks the loop waits on an epoll set holding only control sockets, with a timeout
that ends at the next tick; RTP sockets sit in the engine's own epoll set and are read
only by the tick. A tick that starts late is caught up (up to ``MAX_CATCH_UP`` ticks run
back to back, keeping 50 packets/s per stream); beyond that the clock resynchronises.

Connections authenticate with ``hello`` + shared secret. Legs and bridges belong to the
connection that made them and are dropped when it closes, so a controller that dies
leaves no media running behind it.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from jietong.telephony.media import control as c
from jietong.telephony.media.engine import TICK_S, TICKS_PER_S, Engine, EngineConfig, EngineError

log = logging.getLogger(__name__)

MAX_CATCH_UP = 5
MAX_OUTPUT = 16 << 20  # a controller this far behind is treated as gone


@dataclass(frozen=True, slots=True)
class ServerConfig:
    control: str  # "tcp:HOST:PORT" (port 0: any) or "unix:PATH"
    secret: str
    name: str = "media-0"
    exit_with_parent: bool = False


@dataclass(eq=False)
class _Connection:
    conn_id: int
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    authed: bool = False
    stats_every: int = 0  # ticks; 0 = no periodic stats
    closing: bool = False


def parse_address(address: str) -> tuple[int, Any]:
    """``tcp:HOST:PORT`` -> (AF_INET, (host, port)); ``unix:PATH`` -> (AF_UNIX, path)."""
    kind, _, rest = address.partition(":")
    if kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return socket.AF_INET, (host, int(port))
    raise ValueError(f"bad control address {address!r} (tcp:HOST:PORT or unix:PATH)")


def _listen(address: str) -> tuple[socket.socket, str]:
    family, target = parse_address(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_UNIX:
        Path(target).unlink(missing_ok=True)
        old_umask = os.umask(0o177)  # the socket file is the first line of defence
        try:
            sock.bind(target)
        finally:
            os.umask(old_umask)
        bound = f"unix:{target}"
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(target)
        host, port = sock.getsockname()[:2]
        bound = f"tcp:{host}:{port}"
    sock.listen(16)
    sock.setblocking(False)
    return sock, bound


class ControlServer:
    """Runs one engine until ``shutdown``, SIGTERM, or (optionally) the parent's death."""

    def __init__(self, engine_config: EngineConfig, config: ServerConfig) -> None:
        self.config = config
        self.engine = Engine(engine_config, self._emit)
        self._listener, self.address = _listen(config.control)
        self._poll = select.epoll()
        self._poll.register(self._listener.fileno(), select.EPOLLIN)
        self._poll.register(self.engine.wake_fd, select.EPOLLIN)
        self._conns: dict[int, _Connection] = {}  # by fd
        self._by_id: dict[int, _Connection] = {}
        self._next_id = 0
        self._stopping = False
        self._parent = os.getppid()

    def announce(self, out: TextIO) -> None:
        """The one line a supervisor waits for: where to connect."""
        ready = {
            "ready": True,
            "control": self.address,
            "pid": os.getpid(),
            "name": self.config.name,
        }
        out.write(json.dumps(ready) + "\n")
        out.flush()

    def stop(self, *_: object) -> None:
        self._stopping = True

    def serve_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        next_tick = time.monotonic() + TICK_S
        try:
            while not self._stopping:
                now = time.monotonic()
                if now < next_tick:
                    for fd, mask in self._poll.poll(next_tick - now):
                        self._on_ready(fd, mask)
                    continue
                behind = int((now - next_tick) / TICK_S)
                if behind > MAX_CATCH_UP:  # hopeless: resynchronise rather than burst
                    self.engine.late_ticks += behind
                    next_tick, behind = now, 0
                self.engine.late_ticks += behind
                for _ in range(behind + 1):
                    self.engine.tick()
                    next_tick += TICK_S
                self._after_tick()
        finally:
            self._close_all()

    # -- per tick ----------------------------------------------------------------------

    def _after_tick(self) -> None:
        tick = self.engine.tick_count
        for conn in list(self._conns.values()):
            if conn.stats_every and tick % conn.stats_every == 0:
                stats = self.engine.get_stats(c.GetStats())
                self._send(
                    conn, c.encode_event(c.StatsReport(stats["engine"], tuple(stats["legs"])))
                )
            self._flush(conn)
        if (
            self.config.exit_with_parent
            and tick % TICKS_PER_S == 0
            and os.getppid() != self._parent
        ):
            log.warning("parent process gone; media process exits")
            self._stopping = True

    def _emit(self, owner: int, event: Any) -> None:
        conn = self._by_id.get(owner)
        if conn is not None:
            self._send(conn, c.encode_event(event))

    # -- sockets -----------------------------------------------------------------------

    def _on_ready(self, fd: int, mask: int) -> None:
        if fd == self._listener.fileno():
            self._accept()
            return
        if fd == self.engine.wake_fd:
            self._on_wake()
            return
        conn = self._conns.get(fd)
        if conn is None:
            return
        if mask & select.EPOLLOUT:
            self._flush(conn)
        if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
            self._read(conn)

    def _on_wake(self) -> None:
        """The recording writer finished something: answer now, not at the next tick."""
        self.engine.on_wake()
        for waiting in list(self._conns.values()):
            self._flush(waiting)

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        self._next_id += 1
        conn = _Connection(self._next_id, sock)
        self._conns[sock.fileno()] = conn
        self._by_id[conn.conn_id] = conn
        self._poll.register(sock.fileno(), select.EPOLLIN)

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn, "closed by peer")
            return
        conn.inbuf += data
        while not conn.closing:
            end = conn.inbuf.find(b"\n")
            if end < 0:
                if len(conn.inbuf) > c.MAX_LINE:
                    self._drop(conn, "line too long")
                return
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[: end + 1]
            if line.strip():
                self._handle(conn, line)
        self._flush(conn)

    def _send(self, conn: _Connection, data: bytes) -> None:
        conn.outbuf += data
        if len(conn.outbuf) > MAX_OUTPUT:
            self._drop(conn, "controller not reading")

    def _flush(self, conn: _Connection) -> None:
        if conn.outbuf and not conn.closing:
            try:
                sent = conn.sock.send(conn.outbuf)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._drop(conn, "send failed")
                return
            del conn.outbuf[:sent]
        if conn.closing:
            return
        mask = select.EPOLLIN | (select.EPOLLOUT if conn.outbuf else 0)
        self._poll.modify(conn.sock.fileno(), mask)

    def _drop(self, conn: _Connection, why: str) -> None:
        if conn.closing:
            return
        conn.closing = True
        dropped = self.engine.close_owner(conn.conn_id)
        if dropped:
            log.warning("controller %s %s: dropped %d legs", conn.conn_id, why, len(dropped))
        self._poll.unregister(conn.sock.fileno())
        del self._conns[conn.sock.fileno()]
        del self._by_id[conn.conn_id]
        conn.sock.close()

    def _close_all(self) -> None:
        for conn in list(self._conns.values()):
            self._flush(conn)
            self._drop(conn, "shutdown")
        self.engine.shutdown()
        self._listener.close()
        self._poll.close()

    # -- commands ----------------------------------------------------------------------

    def _handle(self, conn: _Connection, line: bytes) -> None:
        request_id: int | None = None
        try:
            request_id, command = c.decode_request(line)
            if not conn.authed:
                self._hello(conn, request_id, command)
                return
            result = self._dispatch(conn, request_id, command)
        except (c.ProtocolError, EngineError) as exc:
            self._send(conn, c.encode_error(request_id, exc.code, str(exc)))
            if not conn.authed:
                self._flush(conn)
                self._drop(conn, "not authenticated")
            return
        except Exception:  # a bug in one command must not end every call in the process
            log.exception("command failed: %r", line[:200])
            self._send(conn, c.encode_error(request_id, "internal", "internal error"))
            return
        if result is not None:
            self._send(conn, c.encode_response(request_id, result))

    def _hello(self, conn: _Connection, request_id: int, command: Any) -> None:
        if not isinstance(command, c.Hello) or not hmac.compare_digest(
            command.secret.encode(), self.config.secret.encode()
        ):
            raise c.ProtocolError("unauthorized", "send hello with the shared secret first")
        conn.authed = True
        result = {"name": self.config.name, "pid": os.getpid(), "version": c.PROTOCOL_VERSION}
        self._send(conn, c.encode_response(request_id, result))

    def _dispatch(self, conn: _Connection, request_id: int, cmd: Any) -> dict[str, Any] | None:
        """Run one command; None means the answer comes later (record_stop)."""
        engine, owner = self.engine, conn.conn_id
        simple: dict[type, Callable[[Any], dict[str, Any]]] = {
            c.SetRemote: engine.set_remote, c.DestroyLeg: engine.destroy_leg,
            c.SendDtmf: engine.send_dtmf,
            c.JoinBridge: engine.join_bridge, c.LeaveBridge: engine.leave_bridge,
            c.DestroyBridge: engine.destroy_bridge, c.LoadPrompt: engine.load_prompt,
            c.Play: engine.play, c.StopPlay: engine.stop_play, c.SetHold: engine.set_hold,
            c.SetMute: engine.set_mute, c.SetWhisper: engine.set_whisper,
            c.RecordPause: engine.record_pause,
            c.RecordResume: engine.record_pause, c.GetStats: engine.get_stats,
        }  # fmt: skip
        handler = simple.get(type(cmd))
        if handler is not None:
            return handler(cmd)
        match cmd:
            case c.CreateLeg():
                return engine.create_leg(cmd, owner)
            case c.CreateBridge():
                return engine.create_bridge(cmd, owner)
            case c.RecordStart():
                reply = lambda result: self._late_reply(owner, request_id, result)  # noqa: E731
                return engine.record_start(cmd, owner, reply)
            case c.RecordStop():
                engine.record_stop(cmd, lambda result: self._late_reply(owner, request_id, result))
                return None
            case c.Subscribe():
                conn.stats_every = (
                    max(1, round(cmd.stats_interval_s * TICKS_PER_S))
                    if cmd.stats_interval_s > 0
                    else 0
                )
                return {}
            case c.Ping():
                return {"tick": engine.tick_count}
            case c.Shutdown():
                self._stopping = True
                return {}
            case _:
                raise c.ProtocolError("bad_request", "hello was already sent")

    def _late_reply(self, owner: int, request_id: int, result: dict[str, Any]) -> None:
        conn = self._by_id.get(owner)
        if conn is not None:
            self._send(conn, c.encode_response(request_id, result))
