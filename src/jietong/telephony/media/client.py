"""The controller's side: an asyncio client for one media process.

Every command is a coroutine that returns the engine's answer or raises ``MediaError``.
Pushed events (DTMF, prompt finished, timeouts, recordings, stats) come out of
``next_event``/``events``. The client also remembers which legs, bridges and recordings
it created, so that when the connection drops -- the media process crashed, was killed,
or stopped answering pings -- it can report exactly what died: a ``MediaProcessLost``
event is queued, ``lost`` is set, and pending and later calls raise ``MediaEngineLost``.
The signaling layer uses that list to end the calls and close their CDRs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, ClassVar

from jietong.telephony.media import control as c
from jietong.telephony.media.server import parse_address


class MediaError(Exception):
    """The engine refused a command (``code`` as in the protocol) or is unreachable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class LegInfo:
    leg_id: str
    local_host: str
    local_port: int
    ssrc: int
    call_id: str | None = None
    rtcp_port: int | None = None  # local_port + 1, or local_port itself with rtcp_mux


@dataclass(frozen=True, slots=True)
class LostLeg:
    """A leg that died with its media process, and what the controller knew about it."""

    leg_id: str
    call_id: str | None
    bridge_id: str | None


@dataclass(frozen=True, slots=True)
class MediaProcessLost:
    """The connection to a media process is gone; everything it carried is gone too."""

    event: ClassVar[str] = "media_process_lost"
    engine: str
    reason: str
    legs: tuple[LostLeg, ...]
    bridges: tuple[str, ...]
    recordings: tuple[str, ...]  # paths: valid WAV files up to the last second written


class MediaEngineLost(MediaError):
    def __init__(self, lost: MediaProcessLost) -> None:
        super().__init__("engine_lost", f"{lost.engine}: {lost.reason}")
        self.lost = lost


ClientEvent = c.Event | MediaProcessLost
MAX_FINAL_STATS = 4096  # legs of calls whose end never asked for them (a crash, say)


class MediaClient:
    """One authenticated connection. Create with ``await MediaClient.connect(...)``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str):
        self.name = name
        self._reader, self._writer = reader, writer
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._legs: dict[str, LostLeg] = {}
        self._bridges: set[str] = set()
        self._recordings: dict[str, str] = {}  # bridge id -> path
        # Final stats of destroyed legs by leg id, with their call id, until the call's
        # record takes them (``final_stats``); bounded, oldest dropped first.
        self._final: dict[str, tuple[str | None, c.LegStats]] = {}
        self.lost: MediaProcessLost | None = None
        self._lost_future: asyncio.Future[MediaProcessLost] = (
            asyncio.get_running_loop().create_future()
        )
        self._reader_task = asyncio.create_task(self._read_loop())
        self._heartbeat_task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, address: str, secret: str, *, name: str = "media", timeout: float = 5.0,
        heartbeat_s: float | None = None,
    ) -> MediaClient:  # fmt: skip
        """Connect and authenticate. With ``heartbeat_s``, a media process that stops
        answering pings for ``3 * heartbeat_s`` is reported lost (a hang, not a crash)."""
        family, target = parse_address(address)
        limit = 2 * c.MAX_LINE
        if family == socket.AF_UNIX:
            opened = asyncio.open_unix_connection(target, limit=limit)
        else:
            opened = asyncio.open_connection(*target, limit=limit)
        reader, writer = await asyncio.wait_for(opened, timeout)
        client = cls(reader, writer, name)
        try:
            await asyncio.wait_for(client._call(c.Hello(secret, "jietong")), timeout)
        except BaseException:
            await client.close()
            raise
        if heartbeat_s:
            client._heartbeat_task = asyncio.create_task(client._heartbeat(heartbeat_s))
        return client

    # -- commands ----------------------------------------------------------------------

    async def create_leg(
        self, leg_id: str, *, codec: str = "PCMU", remote: tuple[str, int] | None = None,
        call_id: str | None = None, payload_type: int | None = None,
        dtmf_payload_type: int | None = 101, rtp_timeout_s: float | None = None,
        rtcp_mux: bool = False, remote_rtcp_port: int | None = None,
    ) -> LegInfo:  # fmt: skip
        host, port = remote if remote else (None, None)
        cmd = c.CreateLeg(leg_id, codec, payload_type, dtmf_payload_type, host, port, call_id,
                          rtp_timeout_s, rtcp_mux, remote_rtcp_port)  # fmt: skip
        result = await self._call(cmd)
        self._legs[leg_id] = LostLeg(leg_id, call_id, None)
        return LegInfo(leg_id, result["local_host"], result["local_port"], result["ssrc"], call_id,
                       result.get("rtcp_port"))  # fmt: skip

    async def set_remote(
        self, leg_id: str, host: str, port: int, *, rtcp_port: int | None = None,
        dtmf_payload_type: int | EllipsisType | None = ..., rtcp_mux: bool = False,
    ) -> None:  # fmt: skip
        """``dtmf_payload_type``: what the peer's answer settled (None: no
        telephone-event); left out, the leg keeps the type it was created with.
        ``rtcp_mux``: the answer accepted our a=rtcp-mux (the leg switches to it)."""
        if isinstance(dtmf_payload_type, EllipsisType):
            await self._call(c.SetRemote(leg_id, host, port, rtcp_port, rtcp_mux=rtcp_mux))
        else:
            await self._call(c.SetRemote(leg_id, host, port, rtcp_port, dtmf_payload_type, True,
                                         rtcp_mux))  # fmt: skip

    async def send_dtmf(
        self, leg_id: str, digits: str, *, duration_ms: int = 100, gap_ms: int = 60
    ) -> int:
        """Send RFC 4733 telephone-events; returns ms until the last digit has played.
        ``MediaError`` with code ``no_telephone_event``: the leg has none (play tones)."""
        result = await self._call(c.SendDtmf(leg_id, digits, duration_ms, gap_ms))
        return int(result["duration_ms"])

    async def destroy_leg(self, leg_id: str) -> c.LegStats:
        result = await self._call(c.DestroyLeg(leg_id))
        leg = self._legs.pop(leg_id, None)
        stats = c.from_json(c.LegStats, result["stats"])
        self._final[leg_id] = (leg.call_id if leg else None, stats)
        if len(self._final) > MAX_FINAL_STATS:
            del self._final[next(iter(self._final))]
        return stats

    def final_stats(self, call_id: str) -> dict[str, c.LegStats]:
        """The final stats of the legs of ``call_id`` destroyed so far, by leg id, handed
        over once (the end of a call collects its legs' quality here)."""
        mine = [leg_id for leg_id, (owner, _) in self._final.items() if owner == call_id]
        return {leg_id: self._final.pop(leg_id)[1] for leg_id in mine}

    async def create_bridge(self, bridge_id: str, legs: tuple[str, ...] | list[str] = ()) -> None:
        await self._call(c.CreateBridge(bridge_id, tuple(legs)))
        self._bridges.add(bridge_id)
        for leg_id in legs:
            self._set_bridge(leg_id, bridge_id)

    async def join_bridge(self, bridge_id: str, leg_id: str) -> None:
        await self._call(c.JoinBridge(bridge_id, leg_id))
        self._set_bridge(leg_id, bridge_id)

    async def leave_bridge(self, leg_id: str) -> None:
        await self._call(c.LeaveBridge(leg_id))
        self._set_bridge(leg_id, None)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._call(c.DestroyBridge(bridge_id))
        self._bridges.discard(bridge_id)
        self._recordings.pop(bridge_id, None)
        for leg in list(self._legs.values()):
            if leg.bridge_id == bridge_id:
                self._set_bridge(leg.leg_id, None)

    async def load_prompt(self, prompt_id: str, path: str) -> int:
        """Load a WAV file (path relative to the media root); returns its duration in ms."""
        return int((await self._call(c.LoadPrompt(prompt_id, path)))["duration_ms"])

    async def play(self, leg_id: str, prompt_id: str, *, loop: bool = False) -> None:
        await self._call(c.Play(leg_id, prompt_id, loop))

    async def stop_play(self, leg_id: str) -> None:
        await self._call(c.StopPlay(leg_id))

    async def set_hold(self, leg_id: str, held: bool, *, music: str | None = None) -> None:
        await self._call(c.SetHold(leg_id, held, music))

    async def set_mute(self, leg_id: str, muted: bool) -> None:
        await self._call(c.SetMute(leg_id, muted))

    async def set_whisper(self, leg_id: str, to_leg_id: str | None) -> None:
        await self._call(c.SetWhisper(leg_id, to_leg_id))

    async def record_start(self, bridge_id: str, path: str) -> str:
        result = await self._call(c.RecordStart(bridge_id, path))
        self._recordings[bridge_id] = result["path"]
        return str(result["path"])

    async def record_pause(self, bridge_id: str) -> None:
        await self._call(c.RecordPause(bridge_id))

    async def record_resume(self, bridge_id: str) -> None:
        await self._call(c.RecordResume(bridge_id))

    async def record_stop(self, bridge_id: str) -> c.RecordingFinished:
        """Returns once the file is complete on disk."""
        result = await self._call(c.RecordStop(bridge_id))
        self._recordings.pop(bridge_id, None)
        return c.RecordingFinished(bridge_id, result["path"], result["frames"], result["error"])

    async def get_stats(
        self, leg_id: str | None = None
    ) -> tuple[c.EngineStats, tuple[c.LegStats, ...]]:
        result = await self._call(c.GetStats(leg_id))
        legs = tuple(c.from_json(c.LegStats, leg) for leg in result["legs"])
        return c.from_json(c.EngineStats, result["engine"]), legs

    async def subscribe(self, stats_interval_s: float) -> None:
        await self._call(c.Subscribe(stats_interval_s))

    async def ping(self) -> float:
        """Round-trip time in seconds (answered between ticks, so at most ~20 ms + work)."""
        started = time.perf_counter()
        await self._call(c.Ping())
        return time.perf_counter() - started

    async def shutdown(self) -> None:
        """Ask the process to finish its recordings and exit."""
        await self._call(c.Shutdown())

    # -- events and failure ------------------------------------------------------------

    async def next_event(self, timeout: float | None = None) -> ClientEvent:
        return await asyncio.wait_for(self._events.get(), timeout)

    async def events(self) -> AsyncIterator[ClientEvent]:
        """All events, ending after ``MediaProcessLost``."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, MediaProcessLost):
                return

    async def wait_lost(self) -> MediaProcessLost:
        return await asyncio.shield(self._lost_future)

    def active_legs(self) -> tuple[LostLeg, ...]:
        return tuple(self._legs.values())

    async def close(self) -> None:
        """Close the connection (the engine then drops this client's legs and bridges)."""
        for task in (self._heartbeat_task, self._reader_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._fail_pending(MediaError("closed", "client closed"))

    # -- internals ---------------------------------------------------------------------

    def _set_bridge(self, leg_id: str, bridge_id: str | None) -> None:
        leg = self._legs.get(leg_id)
        if leg is not None:
            self._legs[leg_id] = LostLeg(leg.leg_id, leg.call_id, bridge_id)

    async def _call(self, command: Any) -> dict[str, Any]:
        if self.lost is not None:
            raise MediaEngineLost(self.lost)
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(c.encode_request(request_id, command))
            await self._writer.drain()
            return await future
        except (ConnectionError, OSError) as exc:
            self._on_lost(f"connection error: {exc}")
            raise MediaEngineLost(self.lost) from exc  # type: ignore[arg-type]
        finally:
            self._pending.pop(request_id, None)

    async def _read_loop(self) -> None:
        reason = "connection closed by the media process"
        try:
            while line := await self._reader.readline():
                self._on_line(line)
        except (ConnectionError, OSError, ValueError) as exc:
            reason = f"connection error: {exc}"
        self._on_lost(reason)

    def _on_line(self, line: bytes) -> None:
        message = json.loads(line)
        if "event" in message:
            self._events.put_nowait(c.decode_event(message["event"], message["data"]))
            return
        future = self._pending.get(message.get("id"))
        if future is None or future.done():
            return
        if message.get("ok"):
            future.set_result(message.get("result") or {})
        else:
            error = message.get("error") or {}
            future.set_exception(MediaError(error.get("code", "error"), error.get("message", "")))

    async def _heartbeat(self, interval: float) -> None:
        while self.lost is None:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(self.ping(), 3 * interval)
            except TimeoutError:
                self._on_lost("media process stopped answering")
                self._writer.close()
                return
            except MediaError:
                return

    def _on_lost(self, reason: str) -> None:
        if self.lost is not None:
            return
        self.lost = MediaProcessLost(
            self.name, reason, tuple(self._legs.values()), tuple(sorted(self._bridges)),
            tuple(self._recordings.values()),
        )  # fmt: skip
        self._events.put_nowait(self.lost)
        if not self._lost_future.done():
            self._lost_future.set_result(self.lost)
        self._fail_pending(MediaEngineLost(self.lost))

    def _fail_pending(self, error: MediaError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
