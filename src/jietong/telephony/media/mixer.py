"""The per-tick audio math over all legs at once: decode, N-way mix minus own, encode.

Pure functions of arrays, so they are tested without sockets. A bridge is a row of a
sparse membership matrix ``M`` (bridges x legs); the bridge sums are ``M @ frames`` and
what each leg hears is ``M.T @ sums - own``: one sparse product each way, whatever the
mix of two-party calls and conferences. (Measured: ~0.03 ms for 600 legs, 20x faster
than ``np.add.at``.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from jietong.telephony.media import g711

FRAME = 160

Int32Frames = npt.NDArray[np.int32]


class Topology:
    """The leg -> bridge membership as two cached sparse matrices."""

    def __init__(self, bridge_of_leg: npt.NDArray[np.int32], bridges: int) -> None:
        legs = len(bridge_of_leg)
        member = np.flatnonzero(bridge_of_leg >= 0)
        ones = np.ones(len(member), dtype=np.int32)
        self.members = sp.csr_matrix(
            (ones, (bridge_of_leg[member], member)), shape=(bridges, legs), dtype=np.int32
        )
        self.spread = self.members.T.tocsr()
        self.bridged = bridge_of_leg >= 0
        self.legs = legs
        self.bridges = bridges


def decode_received(
    codes: npt.NDArray[np.uint8], codec: npt.NDArray[np.uint8], received: npt.NDArray[np.bool_]
) -> Int32Frames:
    """Linear frames for every leg; legs without a frame this tick get silence."""
    pcm = g711.decode(codes, codec).astype(np.int32)
    pcm *= received[:, None]
    return pcm


def mix_minus(
    topology: Topology,
    frames: Int32Frames,
    talks: npt.NDArray[np.bool_],
    listens: npt.NDArray[np.bool_],
) -> tuple[Int32Frames, Int32Frames]:
    """Return ``(heard, sums)``: per leg the sum of the other talkers in its bridge, and
    per bridge the sum of its talkers (what a recording of the bridge contains).

    ``talks`` masks legs the bridge hears (not muted, not held); ``listens`` masks legs
    that hear the bridge (not held). Unbridged legs hear silence.
    """
    own = frames * (talks & topology.bridged)[:, None]
    sums = np.asarray(topology.members @ own, dtype=np.int32)
    heard = np.asarray(topology.spread @ sums, dtype=np.int32) - own
    heard *= listens[:, None]
    return heard, sums


def clip16(frames: Int32Frames) -> npt.NDArray[np.int16]:
    return np.clip(frames, -32768, 32767).astype(np.int16)


def encode(frames: Int32Frames, codec: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return g711.encode(clip16(frames), codec)
