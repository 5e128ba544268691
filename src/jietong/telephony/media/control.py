"""The control protocol between Jietong and a media process: typed messages, JSON lines.

Transport: a stream socket (Unix or loopback TCP). Each line is one JSON object:

- request   ``{"id": 7, "op": "create_leg", "args": {...}}``
- response  ``{"id": 7, "ok": true, "result": {...}}`` or
            ``{"id": 7, "ok": false, "error": {"code": "unknown_leg", "message": "..."}}``
- event     ``{"event": "dtmf", "data": {...}}`` (pushed; no id)

The first request on a connection must be ``hello`` with the shared secret; anything else
closes the connection. Commands and events are frozen dataclasses; ``decode_message``
checks field names and types, so a malformed request is refused with ``bad_request``
instead of reaching the engine.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar, Union

PROTOCOL_VERSION: Final = 1
MAX_LINE: Final = 1 << 20  # a control line longer than this is a protocol error


class ProtocolError(ValueError):
    """A message that does not fit the protocol; ``code`` is sent back to the peer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- commands ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Authenticate; must be first. ``secret`` is compared in constant time."""

    op: ClassVar[str] = "hello"
    secret: str
    client: str = ""


@dataclass(frozen=True, slots=True)
class CreateLeg:
    """Open an RTP endpoint (a UDP socket). Result: ``local_host``, ``local_port``, ``ssrc``.

    ``remote_*`` may come later (``SetRemote``); until then nothing is sent and every
    received packet is dropped. ``rtp_timeout_s`` = 0 disables the no-RTP timeout.

    RTCP goes over a second socket on ``local_port + 1`` (result ``rtcp_port``) to the
    peer's RTP port + 1 unless ``remote_rtcp_port`` says otherwise (SDP ``a=rtcp``,
    RFC 3605); with ``rtcp_mux`` (the peer offered ``a=rtcp-mux`` and we answered it,
    RFC 5761) it shares the RTP socket and no second port is bound.
    """

    op: ClassVar[str] = "create_leg"
    leg_id: str
    codec: str = "PCMU"
    payload_type: int | None = None  # default: the codec's static type (0 or 8)
    dtmf_payload_type: int | None = 101
    remote_host: str | None = None
    remote_port: int | None = None
    call_id: str | None = None
    rtp_timeout_s: float | None = None  # None: the engine's default
    rtcp_mux: bool = False
    remote_rtcp_port: int | None = None


@dataclass(frozen=True, slots=True)
class SetRemote:
    """The negotiated peer: RTP (and RTCP) are sent there and accepted only from there.

    ``update_dtmf``: the answer to our offer settled telephone-event, so the leg's
    ``dtmf_payload_type`` becomes the one given (None: the peer has none, DTMF we send
    goes in band). Without it the type set by ``create_leg`` stays. ``rtcp_mux``: the
    answer accepted our offer of ``a=rtcp-mux`` (RFC 5761 5.1.1), so the leg's RTCP
    moves onto its RTP socket and the RTCP socket is closed; there is no way back.
    """

    op: ClassVar[str] = "set_remote"
    leg_id: str
    host: str
    port: int
    rtcp_port: int | None = None  # None: port + 1, or port itself with rtcp_mux
    dtmf_payload_type: int | None = None
    update_dtmf: bool = False
    rtcp_mux: bool = False


@dataclass(frozen=True, slots=True)
class DestroyLeg:
    """Close the leg (leaving its bridge). Result: its final ``LegStats``."""

    op: ClassVar[str] = "destroy_leg"
    leg_id: str


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """Send digits to the leg's peer as RFC 4733 telephone-events (queued after any still
    playing); the leg's audio toward the peer is replaced while an event plays. Refused
    with ``no_telephone_event`` when the leg has no telephone-event payload type: the
    caller then plays tones in band. Result: ``duration_ms`` until the last digit ends."""

    op: ClassVar[str] = "send_dtmf"
    leg_id: str
    digits: str
    duration_ms: int = 100
    gap_ms: int = 60


@dataclass(frozen=True, slots=True)
class CreateBridge:
    """Mix legs together: each hears all the others (N-way, minus its own voice)."""

    op: ClassVar[str] = "create_bridge"
    bridge_id: str
    legs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JoinBridge:
    op: ClassVar[str] = "join_bridge"
    bridge_id: str
    leg_id: str


@dataclass(frozen=True, slots=True)
class LeaveBridge:
    op: ClassVar[str] = "leave_bridge"
    leg_id: str


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    """Dissolve the bridge; its legs stay open, its recording (if any) is finished."""

    op: ClassVar[str] = "destroy_bridge"
    bridge_id: str


@dataclass(frozen=True, slots=True)
class LoadPrompt:
    """Load a WAV file (relative to the media root) under ``prompt_id``."""

    op: ClassVar[str] = "load_prompt"
    prompt_id: str
    path: str


@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt to one leg, mixed over whatever else it hears. Replaces a playing one."""

    op: ClassVar[str] = "play"
    leg_id: str
    prompt_id: str
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopPlay:
    op: ClassVar[str] = "stop_play"
    leg_id: str


@dataclass(frozen=True, slots=True)
class SetHold:
    """Held: the leg hears music on hold and the bridge no longer hears the leg."""

    op: ClassVar[str] = "set_hold"
    leg_id: str
    held: bool
    music: str | None = None  # a prompt id; None: the built-in music


@dataclass(frozen=True, slots=True)
class SetMute:
    """Muted: the bridge no longer hears the leg; the leg still hears the bridge."""

    op: ClassVar[str] = "set_mute"
    leg_id: str
    muted: bool


@dataclass(frozen=True, slots=True)
class SetWhisper:
    """Whisper: the leg is heard by `to_leg_id` alone (a supervisor coaching an agent)
    and still hears the whole bridge; both must be in one bridge. None ends it."""

    op: ClassVar[str] = "set_whisper"
    leg_id: str
    to_leg_id: str | None


@dataclass(frozen=True, slots=True)
class RecordStart:
    """Record the bridge's mix to a WAV file (8 kHz, 16-bit) under the media root."""

    op: ClassVar[str] = "record_start"
    bridge_id: str
    path: str


@dataclass(frozen=True, slots=True)
class RecordPause:
    """While paused the recording gets silence, so its timeline still matches the call."""

    op: ClassVar[str] = "record_pause"
    bridge_id: str


@dataclass(frozen=True, slots=True)
class RecordResume:
    op: ClassVar[str] = "record_resume"
    bridge_id: str


@dataclass(frozen=True, slots=True)
class RecordStop:
    """Answered once the file is complete on disk: result ``path``, ``frames``."""

    op: ClassVar[str] = "record_stop"
    bridge_id: str


@dataclass(frozen=True, slots=True)
class GetStats:
    """Result: ``engine`` (EngineStats) and ``legs`` (LegStats of one leg or all)."""

    op: ClassVar[str] = "get_stats"
    leg_id: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Ask for a ``stats`` event every ``stats_interval_s`` (0 stops them)."""

    op: ClassVar[str] = "subscribe"
    stats_interval_s: float


@dataclass(frozen=True, slots=True)
class Ping:
    op: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Finish recordings and exit."""

    op: ClassVar[str] = "shutdown"


Command = Union[  # noqa: UP007 - a runtime alias used in isinstance-free dispatch tables
    Hello, CreateLeg, SetRemote, DestroyLeg, SendDtmf, CreateBridge, JoinBridge, LeaveBridge,
    DestroyBridge, LoadPrompt, Play, StopPlay, SetHold, SetMute, SetWhisper, RecordStart,
    RecordPause,
    RecordResume, RecordStop, GetStats, Subscribe, Ping, Shutdown,
]  # fmt: skip
COMMANDS: Final[dict[str, type[Any]]] = {cls.op: cls for cls in typing.get_args(Command)}


# -- results and events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegStats:
    """Per-leg counters. Gaps are measured at tick resolution (20 ms): the engine reads
    sockets once per tick, so ``max_gap_ms`` is a multiple of 20."""

    leg_id: str
    rx_packets: int
    rx_bytes: int
    rx_lost: int  # sequence numbers skipped
    rx_reordered: int
    rx_duplicates: int
    rx_wrong_source: int  # dropped: not from the negotiated peer
    rx_invalid: int  # dropped: not RTP v2, unknown payload type, wrong frame size
    rx_dtmf_packets: int
    tx_packets: int
    tx_errors: int
    underruns: int  # ticks where a playing leg had no frame to play
    overflow_drops: int  # frames dropped to keep the jitter buffer short
    max_gap_ms: int
    # RTCP (RFC 3550). Ours about the peer's stream: interarrival jitter (from kernel
    # receive times) and the fraction lost in the interval of our last report (0..1).
    jitter_ms: float = 0.0
    fraction_lost: float = 0.0
    # The peer's reports about our stream; None until its first report block on it.
    peer_jitter_ms: float | None = None
    peer_fraction_lost: float | None = None
    peer_cumulative_lost: int | None = None
    rtt_ms: float | None = None  # from the peer's LSR/DLSR (RFC 3550 6.4.1)
    # Simplified E-model (G.107: delay and loss only, G.711 without concealment) from the
    # round trip and the worse direction's loss; None until there is a round trip.
    mos: float | None = None
    rtcp_rx: int = 0  # compound packets taken from the peer
    rtcp_tx: int = 0
    rtcp_rx_dropped: int = 0  # malformed, or not from the negotiated peer
    tx_dtmf_packets: int = 0


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Process-wide figures: the tick budget is 20 ms."""

    legs: int
    bridges: int
    recordings: int
    ticks: int
    late_ticks: int  # ticks started more than one period late
    tick_p50_ms: float
    tick_p99_ms: float
    tick_max_ms: float


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    event: ClassVar[str] = "dtmf"
    leg_id: str
    digit: str
    duration_ms: int
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class PromptFinished:
    event: ClassVar[str] = "prompt_finished"
    leg_id: str
    prompt_id: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class LegTimedOut:
    """No RTP from the peer for ``silent_s`` seconds (reported once until RTP resumes)."""

    event: ClassVar[str] = "leg_timeout"
    leg_id: str
    silent_s: float
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    event: ClassVar[str] = "recording_finished"
    bridge_id: str
    path: str
    frames: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StatsReport:
    event: ClassVar[str] = "stats"
    engine: EngineStats
    legs: tuple[LegStats, ...]


Event = Union[DtmfReceived, PromptFinished, LegTimedOut, RecordingFinished, StatsReport]  # noqa: UP007
EVENTS: Final[dict[str, type[Any]]] = {cls.event: cls for cls in typing.get_args(Event)}


# -- encoding ---------------------------------------------------------------------------

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """Dataclasses to plain JSON types (tuples become lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(cls: type[T], data: Any) -> T:
    """Build dataclass ``cls`` from JSON data, checking every field's type strictly."""
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", f"{cls.__name__}: expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ProtocolError("bad_request", f"{cls.__name__}: unknown fields {sorted(unknown)}")
    try:
        values = {k: _coerce(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()}
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ProtocolError("bad_request", f"{cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(option, value, where)
            except ProtocolError:
                continue
        raise ProtocolError("bad_request", f"{where}: unexpected {type(value).__name__}")
    if origin is tuple:
        (item, _) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ProtocolError("bad_request", f"{where}: expected a list")
        return tuple(_coerce(item, v, where) for v in value)
    if hint is type(None):
        if value is None:
            return None
    elif dataclasses.is_dataclass(hint):
        return from_json(hint, value)  # type: ignore[arg-type]
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise ProtocolError("bad_request", f"{where}: unexpected {type(value).__name__}")


def encode_request(request_id: int, command: Any) -> bytes:
    line = {"id": request_id, "op": command.op, "args": to_json(command)}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def encode_response(request_id: int, result: dict[str, Any]) -> bytes:
    line = {"id": request_id, "ok": True, "result": to_json(result)}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def encode_error(request_id: int | None, code: str, message: str) -> bytes:
    line = {"id": request_id, "ok": False, "error": {"code": code, "message": message}}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def encode_event(event: Any) -> bytes:
    line = {"event": event.event, "data": to_json(event)}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def decode_request(line: bytes) -> tuple[int, Any]:
    """Parse one request line into ``(id, command)``; raises ProtocolError."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("bad_request", "not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("id"), int):
        raise ProtocolError("bad_request", "a request needs an integer id")
    cls = COMMANDS.get(message.get("op", ""))
    if cls is None:
        raise ProtocolError("unknown_op", f"unknown op {message.get('op')!r}")
    return message["id"], from_json(cls, message.get("args", {}))


def decode_event(name: str, data: Any) -> Event:
    cls = EVENTS.get(name)
    if cls is None:
        raise ProtocolError("unknown_event", f"unknown event {name!r}")
    event: Event = from_json(cls, data)
    return event
