"""The engine in-process, ticked by hand: routing stays right as legs and bridges come and
go (rows are compacted), and per-leg accounting of sequence numbers and sources."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from jietong.telephony.media import control as c
from jietong.telephony.media import g711, rtp
from jietong.telephony.media.engine import Engine, EngineConfig, EngineError


class Phone:
    def __init__(self, level: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.payload = g711.encode_samples(np.full(160, level, dtype=np.int16), g711.PCMU)
        self.seq = 0
        self.port = 0

    def send(self, seq: int | None = None, source: socket.socket | None = None) -> None:
        seq = self.seq if seq is None else seq
        packet = rtp.pack(rtp.RtpHeader(0, seq, seq * 160, 99), self.payload)
        (source or self.sock).sendto(packet, ("127.0.0.1", self.port))
        self.seq = seq + 1

    def last_heard(self) -> int:
        data = None
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                break
        assert data is not None, "nothing received"
        return int(g711.decode_bytes(rtp.parse(data).payload, g711.PCMU)[0])


@pytest.fixture
def engine(tmp_path):
    events: list[object] = []
    engine = Engine(EngineConfig(tmp_path), lambda owner, event: events.append(event))
    engine.events = events  # type: ignore[attr-defined]
    yield engine
    engine.shutdown()


def add_phone(engine: Engine, leg_id: str, level: int) -> Phone:
    phone = Phone(level)
    info = engine.create_leg(
        c.CreateLeg(leg_id, remote_host="127.0.0.1", remote_port=phone.sock.getsockname()[1]), 1
    )
    phone.port = info["local_port"]
    return phone


def run(engine: Engine, phones: list[Phone], ticks: int) -> None:
    for _ in range(ticks):
        for phone in phones:
            phone.send()
        engine.tick()


def near(value: int, expected: int) -> bool:
    return abs(value - expected) <= max(64, abs(expected) // 16)  # G.711 step size


def test_routing_survives_removal_of_legs_and_bridges(engine):
    levels = {"a1": 1000, "b1": 2000, "a2": 3000, "b2": 4000, "a3": 5000, "b3": 6000}
    phones = {leg: add_phone(engine, leg, level) for leg, level in levels.items()}
    for n in (1, 2, 3):
        engine.create_bridge(c.CreateBridge(f"call{n}", (f"a{n}", f"b{n}")), 1)
    engine.record_start(c.RecordStart("call3", "call3.wav"), 1)
    run(engine, list(phones.values()), 4)
    assert near(phones["a3"].last_heard(), 6000)

    # remove the first call entirely: the last leg and bridge move into the freed rows
    engine.destroy_bridge(c.DestroyBridge("call1"))
    engine.destroy_leg(c.DestroyLeg("a1"))
    engine.destroy_leg(c.DestroyLeg("b1"))
    # and turn the second call into a three-way conference with a3
    engine.join_bridge(c.JoinBridge("call2", "a3"))
    live = [phones[k] for k in ("a2", "b2", "a3", "b3")]
    run(engine, live, 4)
    assert near(phones["a2"].last_heard(), 4000 + 5000)
    assert near(phones["b2"].last_heard(), 3000 + 5000)
    assert near(phones["a3"].last_heard(), 3000 + 4000)
    assert near(phones["b3"].last_heard(), 0)  # alone in call3 now
    assert engine.engine_stats().legs == 4 and engine.engine_stats().bridges == 2


def test_sequence_accounting_and_source_filter(engine):
    a = add_phone(engine, "a", 1000)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    for seq in (10, 11, 14, 12, 14, 15):  # 12 and 13 lost, then 12 late, then 14 again
        a.send(seq)
    a.send(16, source=stranger)
    a.sock.sendto(b"\x80\x00junk", ("127.0.0.1", a.port))  # too short to be RTP
    engine.tick()
    # at most READ_ROUNDS datagrams per leg per tick: the rest waits for the next tick
    assert engine.get_stats(c.GetStats("a"))["legs"][0].rx_packets == 3
    engine.tick()
    engine.tick()
    stats = engine.get_stats(c.GetStats("a"))["legs"][0]
    assert (stats.rx_packets, stats.rx_lost, stats.rx_reordered, stats.rx_duplicates) == (
        4,
        2,
        1,
        1,
    )
    assert (stats.rx_wrong_source, stats.rx_invalid) == (1, 1)
    stranger.close()


def test_commands_are_validated(engine, tmp_path):
    add_phone(engine, "a", 0)
    with pytest.raises(EngineError, match="exists"):
        engine.create_leg(c.CreateLeg("a"), 1)
    with pytest.raises(EngineError) as codec:
        engine.create_leg(c.CreateLeg("b", codec="G729"), 1)
    assert codec.value.code == "bad_codec"
    with pytest.raises(EngineError) as outside:
        engine.create_bridge(c.CreateBridge("x", ("a",)), 1)
        engine.record_start(c.RecordStart("x", "/etc/cron.d/evil"), 1)
    assert outside.value.code == "bad_path"
    with pytest.raises(EngineError) as unknown:
        engine.play(c.Play("a", "nope"))
    assert unknown.value.code == "unknown_prompt"


def test_close_owner_drops_only_that_controllers_media(engine):
    add_phone(engine, "mine", 0)
    other = Phone(0)
    engine.create_leg(c.CreateLeg("theirs", remote_port=other.sock.getsockname()[1],
                                  remote_host="127.0.0.1"), 2)  # fmt: skip
    engine.create_bridge(c.CreateBridge("b", ("mine",)), 1)
    assert engine.close_owner(1) == ["mine"]
    assert list(engine.legs) == ["theirs"] and not engine.bridges


@pytest.mark.parametrize(
    ("host", "port"), [("pbx.example.com", 4000), ("127.0.0.1", 0), ("::1", 4000)]
)
def test_a_leg_with_a_bad_peer_is_not_created(engine, host, port):
    with pytest.raises(EngineError) as info:
        engine.create_leg(c.CreateLeg("x", remote_host=host, remote_port=port), 1)
    assert info.value.code == "bad_address"
    assert not engine.legs


def test_a_recording_that_cannot_be_written_reports_its_error(engine, tmp_path):
    add_phone(engine, "a", 1000)
    engine.create_bridge(c.CreateBridge("b", ("a",)), 1)
    (tmp_path / "taken").mkdir()  # a directory where the file should go
    engine.record_start(c.RecordStart("b", "taken"), 1)
    engine.tick()
    replies: list[dict] = []
    engine.record_stop(c.RecordStop("b"), replies.append)
    for _ in range(200):
        engine.tick()
        if replies:
            break
        time.sleep(0.005)
    assert replies and replies[0]["error"] and replies[0]["frames"] == 0


def test_a_whisper_is_heard_by_its_target_alone_and_not_recorded(engine, tmp_path):
    levels = {"caller": 1000, "agent": 2000, "coach": 4000}
    phones = {leg: add_phone(engine, leg, level) for leg, level in levels.items()}
    engine.create_bridge(c.CreateBridge("call", tuple(levels)), 1)
    engine.set_whisper(c.SetWhisper("coach", "agent"))
    engine.record_start(c.RecordStart("call", "call.wav"), 1)
    run(engine, list(phones.values()), 4)
    assert near(phones["agent"].last_heard(), 1000 + 4000)  # the caller and the coach
    assert near(phones["caller"].last_heard(), 2000)  # the agent only
    assert near(phones["coach"].last_heard(), 1000 + 2000)  # the whole call
    assert near(int(engine._bridge_sums[0][0]), 1000 + 2000)  # what the recording gets

    # Leaving the bridge ends the whisper; rows then move and nothing follows stale ones.
    engine.leave_bridge(c.LeaveBridge("coach"))
    engine.join_bridge(c.JoinBridge("call", "coach"))
    engine.destroy_leg(c.DestroyLeg("caller"))
    run(engine, [phones["agent"], phones["coach"]], 4)
    assert near(phones["agent"].last_heard(), 4000)  # the coach now talks to the bridge
    with pytest.raises(EngineError):
        engine.set_whisper(c.SetWhisper("coach", "coach"))
    engine.create_leg(c.CreateLeg("outside"), 1)
    with pytest.raises(EngineError):
        engine.set_whisper(c.SetWhisper("coach", "outside"))  # not in its bridge
    engine.set_whisper(c.SetWhisper("coach", None))  # ending one that is not there is fine
