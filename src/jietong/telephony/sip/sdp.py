"""SDP offer/answer for one audio stream: G.711 (PCMU/PCMA) and RFC 4733 telephone-event.

Small on purpose: we only ever negotiate one audio m-line with G.711, so a full SDP model
(sippy's SdpBody) buys nothing but a second representation of `MediaEndpoint`. Parsing is
lenient about what SIPp and baresip send (CRLF or LF, extra attributes, extra media
lines, dynamic payload types named by rtpmap) and strict about what we need: an IPv4
connection address, a port and at least one codec we speak. Everything else raises
`SdpError`, which signaling answers with 488 Not Acceptable Here.

RTCP attributes are optional extras, so a bad one is ignored rather than refused:
`a=rtcp-mux` (RFC 5761) and `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605). An `a=rtcp`
naming another address than the stream's is ignored too: the media engine sends RTCP to,
and accepts it from, the RTP peer's address only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from jietong.telephony.ports import Codec, MediaEndpoint

MAX_SDP_BYTES = 8192
# Static payload types of RFC 3551; a peer may also name them through rtpmap.
_STATIC: dict[int, Codec] = {0: "PCMU", 8: "PCMA"}
_NAMES: dict[str, Codec] = {"PCMU": "PCMU", "PCMA": "PCMA"}
# telephone-event has no static type (RFC 4733 7.1.1): one outside the dynamic range
# could be a static codec's number, which the media engine refuses as a clash.
_DYNAMIC = range(96, 128)


class SdpError(ValueError):
    """The SDP cannot be used: malformed, no IPv4 audio, or no codec in common."""


@dataclass(frozen=True, slots=True)
class SdpOffer:
    """What a peer's SDP says about its audio stream. `port` 0 means the stream is
    declined (RFC 3264 section 6); `direction` is the stream's a=sendrecv & co."""

    endpoint: MediaEndpoint
    direction: str = "sendrecv"


def parse(text: str) -> SdpOffer:
    """The first audio stream of an SDP body, as a `MediaEndpoint` in the peer's order
    of preference, restricted to PCMU/PCMA and telephone-event."""
    if len(text) > MAX_SDP_BYTES:
        raise SdpError("SDP too large")
    session_host: str | None = None
    media: list[list[str]] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"not an SDP line: {line[:40]!r}")
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        elif line.startswith("c="):
            session_host = _connection(line)
    for block in media:
        fields = block[0][2:].split()
        if len(fields) >= 4 and fields[0] == "audio" and fields[2].startswith("RTP/AVP"):
            return _audio(block, fields, session_host)
    raise SdpError("no RTP/AVP audio stream")


def _connection(line: str) -> str:
    fields = line[2:].split()
    if len(fields) != 3 or fields[0] != "IN":
        raise SdpError("bad c= line")
    if fields[1] != "IP4":
        raise SdpError("only IPv4 media is supported")
    host = fields[2].split("/")[0]
    try:
        ipaddress.IPv4Address(host)
    except ValueError as exc:
        # The media engine needs a literal; names are never resolved for RTP.
        raise SdpError("connection address is not an IPv4 literal") from exc
    return host


def _audio(block: list[str], fields: list[str], session_host: str | None) -> SdpOffer:
    try:
        port = int(fields[1].split("/")[0])
        pts = [int(pt) for pt in fields[3:]]
    except ValueError as exc:
        raise SdpError("bad m= line") from exc
    if not 0 <= port <= 65535 or any(not 0 <= pt <= 127 for pt in pts):
        raise SdpError("port or payload type out of range")
    host = session_host
    names: dict[int, str] = {}
    direction = "sendrecv"
    rtcp_mux = False
    rtcp_lines: list[str] = []
    for line in block[1:]:
        if line.startswith("c="):
            host = _connection(line)
        elif line == "a=rtcp-mux":
            rtcp_mux = True
        elif line.startswith("a=rtcp:"):
            rtcp_lines.append(line[len("a=rtcp:") :])
        elif line.startswith("a=rtpmap:"):
            pt_text, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            pt = _small_number(pt_text)
            if pt is not None:
                names[pt] = encoding.split("/")[0].strip()
        elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive"):
            direction = line[2:]
    if host is None:
        raise SdpError("no connection address")
    codecs: list[tuple[Codec, int]] = []
    event_pt: int | None = None
    for pt in pts:
        name = names.get(pt)
        if name is not None and name.lower() == "telephone-event":
            if event_pt is None and pt in _DYNAMIC:
                event_pt = pt
            continue
        codec = _NAMES.get(name.upper()) if name is not None else _STATIC.get(pt)
        if codec is not None and all(c != codec for c, _ in codecs):
            codecs.append((codec, pt))
    if not codecs and port != 0:
        raise SdpError("no codec in common (PCMU or PCMA)")
    rtcp_port = None
    if not rtcp_mux:  # with mux the RTP port carries RTCP, whatever a=rtcp says
        usable = [p for p in (_rtcp_port(value, host) for value in rtcp_lines) if p is not None]
        rtcp_port = usable[0] if usable else None
    endpoint = MediaEndpoint(host, port, tuple(codecs), event_pt, rtcp_mux, rtcp_port)
    return SdpOffer(endpoint, direction)


def _rtcp_port(value: str, host: str) -> int | None:
    """The port of an RFC 3605 ``a=rtcp:`` value, or None if it is unusable: malformed,
    out of range, or at another address than the stream's."""
    fields = value.split()
    port = _small_number(fields[0]) if fields else None
    if port is None or not 1 <= port <= 65535:
        return None
    if len(fields) == 1:
        return port
    if len(fields) != 4 or fields[1:3] != ["IN", "IP4"] or fields[3] != host:
        return None
    return port


def _small_number(text: str) -> int | None:
    """A port or payload type in ASCII digits, else None. `str.isdigit` alone would let
    through "²" (which int() refuses) and thousands of digits (past int()'s limit)."""
    if 0 < len(text) <= 5 and text.isascii() and text.isdigit():
        return int(text)
    return None


def answer_codecs(offer: MediaEndpoint, ours: MediaEndpoint) -> MediaEndpoint:
    """Our endpoint narrowed to the first of the offer's codecs that we also speak, with
    the offer's payload types (an answer must reuse the offerer's numbers, RFC 3264
    section 6.1), telephone-event only if both sides have it, and rtcp-mux only if both
    want it (RFC 5761 5.1.1: never in an answer to an offer without it)."""
    our_codecs = {codec for codec, _ in ours.codecs}
    for codec, pt in offer.codecs:
        if codec in our_codecs:
            chosen = ((codec, pt),)
            break
    else:
        raise SdpError("no codec in common (PCMU or PCMA)")
    event_pt = offer.telephone_event_pt if ours.telephone_event_pt is not None else None
    mux = offer.rtcp_mux and ours.rtcp_mux
    return MediaEndpoint(ours.host, ours.port, chosen, event_pt, mux, ours.rtcp_port)


def build(endpoint: MediaEndpoint, *, session_id: int, version: int, direction: str = "") -> str:
    """An SDP body for one audio stream (offer or answer), CRLF line endings.
    `version` must grow with each changed SDP in a dialog (re-INVITE, RFC 3264 8)."""
    pts = [str(pt) for _, pt in endpoint.codecs]
    lines = [
        "v=0",
        f"o=jietong {session_id} {version} IN IP4 {endpoint.host}",
        "s=jietong",
        f"c=IN IP4 {endpoint.host}",
        "t=0 0",
    ]
    if endpoint.telephone_event_pt is not None:
        pts.append(str(endpoint.telephone_event_pt))
    lines.append(f"m=audio {endpoint.port} RTP/AVP {' '.join(pts)}")
    for codec, pt in endpoint.codecs:
        lines.append(f"a=rtpmap:{pt} {codec}/8000")
    if endpoint.telephone_event_pt is not None:
        lines.append(f"a=rtpmap:{endpoint.telephone_event_pt} telephone-event/8000")
        lines.append(f"a=fmtp:{endpoint.telephone_event_pt} 0-16")
    lines.append("a=ptime:20")
    if endpoint.rtcp_mux:
        lines.append("a=rtcp-mux")
    elif endpoint.rtcp_port is not None:
        lines.append(f"a=rtcp:{endpoint.rtcp_port}")
    lines.append(f"a={direction or 'sendrecv'}")
    return "\r\n".join(lines) + "\r\n"
