"""The ports between voice's parts, so each can be built and replaced on its own.

- `CallSignaling`: SIP (``telephony.sip``, on sippy) — or, at a larger site, Asterisk or
  FreeSWITCH behind the same port. It speaks to phones and trunks and reports what they
  did to one `SignalingHandler`; it never touches audio.
- The media engine (``telephony.media``) moves the audio; `MediaEndpoint` is what the two
  exchange through SDP.
- `CallAudio`: what an IVR flow needs from one answered call (play, collect digits,
  record), implemented over the media engine by ``telephony.ivr``.

The orchestrator (``telephony.service``) is the only place that holds all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Codec = Literal["PCMU", "PCMA"]


@dataclass(frozen=True, slots=True)
class MediaEndpoint:
    """One side of an RTP stream as SDP describes it: an IPv4 literal and a port, the
    codecs in order of preference (with their payload types), the RFC 4733
    telephone-event payload type, if any, and where its RTCP goes."""

    host: str
    port: int
    codecs: tuple[tuple[Codec, int], ...] = (("PCMU", 0), ("PCMA", 8))
    telephone_event_pt: int | None = 101
    # RFC 5761 a=rtcp-mux (RTCP on the RTP port) and RFC 3605 a=rtcp: (another RTCP
    # port); neither: RTCP on the RTP port + 1 (RFC 3550 11).
    rtcp_mux: bool = False
    rtcp_port: int | None = None


@dataclass(frozen=True, slots=True)
class SipPeer:
    """Who is at the other end of a dialog, as the signaling layer established it."""

    uri: str  # sip:user@host as sent (From for inbound, To for outbound)
    display_name: str | None
    user: str  # the user part: a phone number (unnormalised) or an extension
    source: tuple[str, int]  # the address the request came from (inbound) or went to


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """An INVITE that passed authentication: from a trunk (IP-authenticated or one we
    register with) or from a registered agent phone (digest)."""

    call_id: str  # ours, stable for the call's life; not the SIP Call-ID
    sip_call_id: str
    org_id: str
    caller: SipPeer
    dialled: str  # the user part of the Request-URI / To (the number or extension called)
    remote_media: MediaEndpoint
    trunk_id: str | None = None  # set when it came in over a trunk
    phone_user: str | None = None  # set when an agent phone placed it (its digest user)
    # An INVITE without SDP (late offer): `remote_media` has the one codec we will offer
    # but no address; the far end's address arrives with its answer in the ACK, reported
    # as `call_answered` of this call.
    late_offer: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """Where an outbound call goes: an agent phone by its registered user (every
    registered contact rings; the first to answer wins), or a number through a trunk."""

    kind: Literal["phone", "number"]
    value: str  # phone user, or an E.164 number
    trunk_id: str | None = None  # for numbers; None = the organisation's default trunk


class SignalingHandler(Protocol):
    """What signaling reports. Each method is awaited on the orchestrator's event loop;
    signaling never blocks its own reactor on them."""

    async def call_offered(self, call: IncomingCall) -> None:
        """A new inbound call. The handler answers, rejects or rings it."""

    async def call_progress(self, call_id: str, status: int) -> None:
        """An outbound call is ringing (180) or has early media (183)."""

    async def call_answered(self, call_id: str, remote_media: MediaEndpoint) -> None:
        """An outbound call was answered (200 OK, ACKed by us)."""

    async def call_ended(self, call_id: str, cause: str, sip_status: int | None) -> None:
        """The call is over: the far end hung up (``remote_bye``), cancelled before answer
        (``cancelled``), refused (``rejected`` with the status), did not answer in time
        (``no_answer``), or its dialog timed out (``timeout``). Not called for our own
        `hangup`."""

    async def dtmf(self, call_id: str, digit: str) -> None:
        """A digit sent in-band of signaling (SIP INFO); RTP DTMF comes from media."""


class CallSignaling(Protocol):
    async def start(self, handler: SignalingHandler) -> None: ...

    async def stop(self) -> None: ...

    async def ring(self, call_id: str) -> None:
        """Send 180 Ringing for an inbound call not yet answered."""

    async def answer(self, call_id: str, local_media: MediaEndpoint) -> None:
        """Answer an inbound call with our SDP (200 OK)."""

    async def reject(self, call_id: str, status: int, reason: str) -> None: ...

    async def originate(
        self,
        org_id: str,
        target: Target,
        caller_id: str,
        local_media: MediaEndpoint,
        *,
        timeout_s: float,
        call_id: str | None = None,
    ) -> str:
        """Send an INVITE; return our call id at once. What happens next arrives through
        the handler: progress, then answered or ended."""

    async def hangup(self, call_id: str) -> None:
        """BYE an answered call, CANCEL an unanswered outbound one, 487 an inbound one."""

    async def update_media(self, call_id: str, local_media: MediaEndpoint) -> None:
        """Re-INVITE an answered call to point its RTP at another media endpoint
        (moving a call between media processes; attended transfer)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    path: Path
    seconds: float


class CallAudio(Protocol):
    """One answered call's audio, as an IVR step uses it. Every method raises
    `CallGone` when the caller hangs up meanwhile."""

    async def play(self, prompt: Path, *, interruptible: bool = True) -> str | None:
        """Play a prompt (WAV) to the end; return the first digit pressed when
        interruptible (the prompt stops there), else None."""

    async def collect(
        self,
        *,
        max_digits: int,
        first_digit_timeout_s: float,
        inter_digit_timeout_s: float,
        terminator: str | None = "#",
        already: str = "",
    ) -> str:
        """Digits pressed (possibly empty on timeout), without the terminator."""

    async def record(self, path: Path, *, max_seconds: float, beep: bool = True) -> Recorded:
        """Record what the caller says until '#', hang-up or the limit."""

    async def music(self, *, on: bool) -> None:
        """Music on hold while the caller waits."""


class CallGone(Exception):
    """The caller hung up (or the media process died) while a step was running."""


@dataclass(slots=True)
class CallVariables:
    """What an IVR flow learned on the way (language, digits collected, lookup results),
    carried onto the interaction and the CDR."""

    language: str = "zh-CN"
    values: dict[str, str] = field(default_factory=dict)
