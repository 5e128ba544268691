"""UDP sockets for legs: RTP/RTCP port pairs, and the kernel's receive time per datagram.

Every socket has ``SO_TIMESTAMPNS`` on, so each datagram read with ``recvmsg`` carries
the time the kernel received it: the tick reads in batches, and its own clock would
quantise arrival times (RTCP jitter, round trips) to 20 ms.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Final

SO_TIMESTAMPNS: Final = 35  # Linux; the socket module does not export it
TIMESPEC: Final = struct.Struct("@ll")  # the ancillary data: seconds, nanoseconds


class NoPorts(OSError):
    """No free even/odd port pair (or port, without RTCP) to bind."""


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return sock


def arrival_s(anc: list[Any], fallback: float) -> float:
    """The kernel's receive time (Unix seconds) of a datagram from its ancillary data;
    ``fallback`` if it has none."""
    if anc and len(anc[0][2]) >= TIMESPEC.size:
        seconds, nanoseconds = TIMESPEC.unpack_from(anc[0][2])
        return float(seconds + nanoseconds * 1e-9)
    return fallback


class PortPairs:
    """Binds leg sockets on ``host``, from an inclusive port range or ephemeral ports."""

    def __init__(self, host: str, ports: tuple[int, int] | None) -> None:
        self.host = host
        self.ports = ports
        self._cursor = 0  # where the next search of the range starts (spreads reuse)

    def bind(self, *, pair: bool) -> tuple[socket.socket, int, socket.socket | None]:
        """An RTP socket on an even port and, with ``pair``, RTCP on the odd port above
        it (RFC 3550 11): a peer without ``a=rtcp`` sends RTCP to our RTP port + 1."""
        if self.ports is None:
            # Ephemeral ports come in any parity: retry until an even one has its pair.
            for _ in range(64):
                sock = udp_socket()
                sock.bind((self.host, 0))
                port = int(sock.getsockname()[1])
                if not pair:
                    return sock, port, None
                rtcp_sock = self._bind_rtcp(port) if port % 2 == 0 else None
                if rtcp_sock is not None:
                    return sock, port, rtcp_sock
                sock.close()
            raise NoPorts("no free even/odd port pair")
        low, high = self.ports
        even = list(range(low + (low & 1), high + (0 if pair else 1), 2))
        for attempt in range(len(even)):
            port = even[(self._cursor + attempt) % len(even)]
            sock = udp_socket()
            try:
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            rtcp_sock = self._bind_rtcp(port) if pair else None
            if pair and rtcp_sock is None:
                sock.close()
                continue
            self._cursor = (self._cursor + attempt + 1) % len(even)
            return sock, port, rtcp_sock
        raise NoPorts(f"no free RTP port in {low}-{high}")

    def _bind_rtcp(self, rtp_port: int) -> socket.socket | None:
        sock = udp_socket()
        try:
            sock.bind((self.host, rtp_port + 1))
        except OSError:
            sock.close()
            return None
        return sock
