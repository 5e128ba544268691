"""`SipSignaling`: the `CallSignaling` port over sippy.

Threads. sippy runs in the reactor thread (`stack.Reactor`); decisions that need the
directory (who is this trunk, is this digest right, where is this phone registered) run
on the asyncio loop. The reactor hands a request over as frozen data
(`messages.RequestInfo`) with ``run_coroutine_threadsafe``; the loop answers through
`Reactor.call`. sippy objects (UAs, transactions, requests) are only touched on the
reactor thread; `_Call` fields written on both sides are single assignments.

Authentication. An INVITE is accepted without credentials only from a trunk (its address
admitted by the trunk's allowed list, or the host we register to). Anything else needs a
phone account's digest: no unauthenticated call can reach a trunk (toll fraud). Behind
Kamailio every request comes from the edge's address: a trunk marked ``trusted_edge``
may name the phone it authenticated in ``X-Jietong-Phone``, and the call is then that
phone's; from any other source the header is ignored. Unknown
user and wrong password get the same 403 after the same computation; failures count per
source address (`limits.FailureLimiter`), and a blocked source gets 403 for everything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sippy.CCEvents import (  # type: ignore[import-untyped]
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventInfo,
    CCEventPreConnect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody  # type: ignore[import-untyped]
from sippy.SipAddress import SipAddress  # type: ignore[import-untyped]
from sippy.SipContact import SipContact  # type: ignore[import-untyped]
from sippy.SipHeader import SipHeader  # type: ignore[import-untyped]
from sippy.SipURL import SipURL  # type: ignore[import-untyped]
from sippy.UA import UA  # type: ignore[import-untyped]

from jietong.telephony.ports import (
    IncomingCall,
    MediaEndpoint,
    SignalingHandler,
    SipPeer,
    Target,
)
from jietong.telephony.sip import digest, sdp
from jietong.telephony.sip.limits import FailureLimiter
from jietong.telephony.sip.messages import BadRequest, RequestInfo, read_request
from jietong.telephony.sip.model import Binding, PhoneAccount, SipDirectory, Trunk
from jietong.telephony.sip.registration import RefreshingAgent, RegistrationState
from jietong.telephony.sip.stack import Reactor

log = logging.getLogger("jietong.sip")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER"
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 3600
# What we offer in the 200 OK to an INVITE without SDP: one codec only, so the media leg
# made before the answer is right whatever the answer says (a media leg's codec is fixed
# when it is made), and telephone-event for RFC 4733 keys.
LATE_OFFER = MediaEndpoint("", 0, (("PCMU", 0),), 101)  # no address until the ACK


class UnknownCall(LookupError):
    """No call with this id (ended, or never ours)."""


class NotRegistered(LookupError):
    """An originate to a phone with no live binding."""


class NoTrunk(LookupError):
    """An originate to a number and the organisation has no (such) trunk."""


CallState = Literal["offered", "ringing", "answered", "ended"]


@dataclass
class _Call:
    call_id: str
    direction: Literal["in", "out"]
    org_id: str
    state: CallState = "offered"
    remote_media: MediaEndpoint | None = None
    local_media: MediaEndpoint | None = None
    uas: Any = None  # the sippy UA of an inbound call
    legs: list[Any] = field(default_factory=list)  # UACs of an outbound call (forks)
    winner: Any = None  # the UAC that answered
    session_id: int = field(default_factory=lambda: secrets.randbelow(2**31))
    sdp_version: int = 1
    hung_up_by_us: bool = False
    late_offer: bool = False  # the INVITE had no SDP: our 200 offers, the ACK answers


@dataclass(frozen=True, slots=True)
class SipConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    public_host: str | None = None  # what goes into Contact and SDP o=; default host
    realm: str = "jietong"
    user_agent: str = "Jietong"
    nonce_lifetime_s: float = 300.0
    max_auth_failures: int = 10
    failure_window_s: float = 60.0
    block_s: float = 300.0


class SipSignaling:
    """`CallSignaling` over SIP/UDP. One per process (sippy's dispatcher is a
    singleton)."""

    def __init__(
        self,
        directory: SipDirectory,
        config: SipConfig,
        *,
        nonce_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.config = config
        self.clock = clock
        self.nonces = digest.NonceBook(nonce_key, lifetime_s=config.nonce_lifetime_s)
        self.limiter = FailureLimiter(
            max_failures=config.max_auth_failures,
            window_s=config.failure_window_s,
            block_s=config.block_s,
        )
        self.reactor = Reactor(
            config.host, config.port, config.public_host or config.host, config.user_agent
        )
        self._handler: SignalingHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._calls: dict[str, _Call] = {}
        self._agents: list[RefreshingAgent] = []
        self._housekeeping: asyncio.Task[None] | None = None
        self.registrations: dict[str, RegistrationState] = {}  # trunk id -> last outcome
        self._tasks: set[concurrent.futures.Future[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self.reactor.port

    @property
    def public_host(self) -> str:
        return self.config.public_host or self.config.host

    async def start(self, handler: SignalingHandler) -> None:
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.reactor.start, self._on_request)
        await self._register_trunks()
        self._housekeeping = asyncio.create_task(self._housekeep())

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        agents, self._agents = self._agents, []

        def unregister() -> None:
            for agent in agents:
                agent.stop()

        self.reactor.call(unregister)
        await asyncio.to_thread(self.reactor.stop)
        for task in list(self._tasks):
            task.cancel()
        self._calls.clear()

    async def _housekeep(self, every_s: float = 60.0) -> None:
        """Delete expired bindings and forget quiet sources, once a minute."""
        while True:
            await asyncio.sleep(every_s)
            now = self.clock()
            self.limiter.prune(now)
            try:
                await self.directory.purge_bindings(datetime.fromtimestamp(now, UTC))
            except Exception:
                log.exception("SIP: purging expired bindings failed")

    async def _register_trunks(self) -> None:
        """Register to every trunk that wants it (read once at start)."""
        trunks = await self.directory.registering_trunks()

        def report(state: RegistrationState) -> None:  # reactor thread; a dict write
            self.registrations[state.trunk_id] = state
            if not state.registered:
                log.warning("SIP trunk %s registration failed: %s", state.trunk_id, state.detail)

        def begin() -> None:
            for trunk in trunks:
                agent = RefreshingAgent(
                    self.reactor.global_config, trunk, self.public_host, self.port, report
                )
                self._agents.append(agent)
                agent.doregister()

        if trunks:
            self.reactor.call(begin)

    def active_calls(self) -> int:
        return len(self._calls)

    # -- the bridge ----------------------------------------------------------------------

    def _post(self, coro: Coroutine[Any, Any, None]) -> None:
        """Reactor thread -> event loop."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._guard(coro), self._loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("SIP: a handler or directory call failed")

    def _handler_or_fail(self) -> SignalingHandler:
        if self._handler is None:
            raise RuntimeError("signaling not started")
        return self._handler

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(call_id)
        return call

    # -- requests out of dialog (reactor thread) -----------------------------------

    def _on_request(self, req: Any, t: Any) -> Any:
        method = req.getMethod()
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, "Call/Transaction Does Not Exist"), None, None)
        host = str(req.getSource()[0])
        if self.limiter.blocked(host, self.clock()) and method != "OPTIONS":
            return (req.genResponse(403, "Forbidden"), None, None)
        if method == "OPTIONS":
            resp = req.genResponse(200, "OK")
            resp.appendHeader(SipHeader(name="allow", bodys=ALLOW))
            resp.appendHeader(SipHeader(name="accept", bodys="application/sdp"))
            return (resp, None, None)
        if method not in ("INVITE", "REGISTER"):
            resp = req.genResponse(405, "Method Not Allowed")
            resp.appendHeader(SipHeader(name="allow", bodys=ALLOW))
            return (resp, None, None)
        try:
            info = read_request(req)
        except BadRequest as exc:
            return (req.genResponse(400, str(exc)[:60]), None, None)
        if method == "REGISTER":
            self._post(self._register(info, req, t))
            return (None, None, None)  # answered later through _respond
        return self._invite(info, req, t)

    def _respond(
        self, req: Any, t: Any, code: int, reason: str, headers: list[tuple[str, str]]
    ) -> None:
        """Event loop -> reactor: answer a pending non-INVITE transaction."""

        def send() -> None:
            resp = req.genResponse(code, reason)
            for name, value in headers:
                resp.appendHeader(SipHeader(name=name, bodys=value))
            self.reactor.tm.sendResponse(resp, t)

        self.reactor.call(send)

    # -- authentication (event loop) -------------------------------------------------

    async def _authenticate(
        self, info: RequestInfo
    ) -> tuple[PhoneAccount | None, tuple[int, str, list[tuple[str, str]]] | None]:
        """(the phone, None) when the digest is right; else (None, the response)."""
        now = self.clock()
        realm = self.config.realm
        creds = digest.parse_authorization(info.authorization) if info.authorization else None
        if creds is None:
            challenge = digest.challenge(realm, self.nonces.issue(now))
            return None, (401, "Unauthorized", [("www-authenticate", challenge)])
        account = await self.directory.phone(creds.username)
        usable = account is not None and account.enabled and account.realm == realm
        verdict = digest.verify(
            creds,
            method=info.method,
            realm=realm,
            stored_ha1=account.ha1 if usable and account is not None else None,
            nonces=self.nonces,
            now=now,
        )
        if verdict is digest.Verdict.OK and account is not None:
            self.limiter.succeeded(info.source[0])
            return account, None
        if verdict is digest.Verdict.STALE:
            challenge = digest.challenge(realm, self.nonces.issue(now), stale=True)
            return None, (401, "Unauthorized", [("www-authenticate", challenge)])
        # Unknown user, disabled account and wrong password end here alike.
        self.limiter.failed(info.source[0], now)
        return None, (403, "Forbidden", [])

    # -- registrar (event loop) --------------------------------------------------------

    async def _register(self, info: RequestInfo, req: Any, t: Any) -> None:
        account, refusal = await self._authenticate(info)
        if refusal is not None or account is None:
            code, reason, headers = refusal or (403, "Forbidden", [])
            self._respond(req, t, code, reason, headers)
            return
        if info.to_user != account.username:
            # A phone may only bind its own address of record.
            self.limiter.failed(info.source[0], self.clock())
            self._respond(req, t, 403, "Forbidden", [])
            return
        code, reason, headers = await self._update_bindings(account, info)
        self._respond(req, t, code, reason, headers)

    async def _update_bindings(
        self, account: PhoneAccount, info: RequestInfo
    ) -> tuple[int, str, list[tuple[str, str]]]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if info.contact_star:
            if info.expires != 0 or info.contacts:
                return 400, "Bad Request", []
            await self.directory.remove_bindings(account.username)
            return 200, "OK", []
        for contact in info.contacts:
            expires = contact.expires if contact.expires is not None else info.expires
            expires = DEFAULT_EXPIRES if expires is None else expires
            if expires == 0:
                await self.directory.remove_binding(account.username, contact.uri)
                continue
            if expires < MIN_EXPIRES:
                return 423, "Interval Too Brief", [("min-expires", str(MIN_EXPIRES))]
            binding = Binding(
                org_id=account.org_id,
                username=account.username,
                contact=contact.uri,
                source_host=info.source[0],
                source_port=info.source[1],
                expires_at=now + timedelta(seconds=min(expires, MAX_EXPIRES)),
                call_id=info.sip_call_id,
                cseq=info.cseq,
                user_agent=info.user_agent,
            )
            await self.directory.save_binding(binding)
        headers = []
        for binding in await self.directory.bindings(account.username, now):
            left = max(0, int((binding.expires_at - now).total_seconds()))
            headers.append(("contact", f"<{binding.contact}>;expires={left}"))
        return 200, "OK", headers

    # -- inbound INVITE ------------------------------------------------------------------

    def _new_ua(self, call: _Call, **kwargs: Any) -> Any:
        ua = UA(
            self.reactor.global_config,
            event_cb=lambda event, ua: self._ua_event(call, event, ua),
            **kwargs,
        )
        ua.local_ua = None
        ua.lContact = SipContact(
            address=SipAddress(url=SipURL(host=self.public_host, port=self.port), name=None)
        )
        return ua

    def _invite(self, info: RequestInfo, req: Any, t: Any) -> Any:
        call = _Call(call_id=f"sip-{secrets.token_hex(8)}", direction="in", org_id="")
        ua = self._new_ua(call)
        call.uas = ua
        rval = ua.recvRequest(req, t)  # sends 100 Trying, keeps the transaction
        self._calls[call.call_id] = call
        self._post(self._admit(call, info))
        return rval

    async def _admit(self, call: _Call, info: RequestInfo) -> None:
        call.late_offer = not (info.body or "").strip()
        try:
            offer = None if call.late_offer else sdp.parse(info.body or "")
        except sdp.SdpError:
            offer = None
        trunk = await self.directory.trunk_admitting(info.source[0])
        phone: PhoneAccount | None = None
        if trunk is None:
            phone, refusal = await self._authenticate(info)
        elif trunk.trusted_edge and info.edge_phone is not None:
            phone, refusal = await self._edge_phone(trunk, info.edge_phone)
        else:
            refusal = None  # a carrier's call; any X-Jietong-Phone it sent is ignored
        if refusal is not None:
            code, reason, headers = refusal
            self._fail(call, code, reason, headers)
            return
        if call.late_offer:
            remote = LATE_OFFER
        elif offer is None or offer.endpoint.port == 0:
            self._fail(call, 488, "Not Acceptable Here", [])
            return
        else:
            remote = offer.endpoint
        call.remote_media = remote
        call.org_id = phone.org_id if phone is not None else trunk.org_id if trunk else ""
        incoming = IncomingCall(
            call_id=call.call_id,
            sip_call_id=info.sip_call_id,
            org_id=call.org_id,
            caller=SipPeer(info.from_uri, info.from_name, info.from_user, info.source),
            dialled=info.ruri_user or info.to_user or "",
            remote_media=remote,
            # A phone's call through the edge is the phone's, not the edge trunk's.
            trunk_id=trunk.id if trunk is not None and phone is None else None,
            phone_user=phone.username if phone is not None else None,
            late_offer=call.late_offer,
        )
        if call.state == "ended":  # cancelled while we were deciding
            return
        try:
            await self._handler_or_fail().call_offered(incoming)
        except Exception:
            # A caller must not ring forever because the orchestrator failed.
            log.exception("SIP: the handler failed on an offered call; answering 500")
            if call.state in ("offered", "ringing") and call.call_id in self._calls:
                self._fail(call, 500, "Server Internal Error", [])

    async def _edge_phone(
        self, edge: Trunk, username: str
    ) -> tuple[PhoneAccount | None, tuple[int, str, list[tuple[str, str]]] | None]:
        """The phone a trusted edge says placed the call (it checked the digest). It
        must be an enabled account of the edge's organisation: an edge of one
        organisation cannot speak for another's phones. Anything else is refused rather
        than taken as a carrier's call, which would send an agent's dialling to the IVR."""
        account = await self.directory.phone(username)
        if account is None or not account.enabled or account.org_id != edge.org_id:
            log.warning("SIP: edge %s named an unknown phone; refused", edge.id)
            return None, (403, "Forbidden", [])
        return account, None

    def _fail(self, call: _Call, code: int, reason: str, headers: list[tuple[str, str]]) -> None:
        self._calls.pop(call.call_id, None)
        call.state = "ended"

        def send() -> None:
            event = CCEventFail((code, reason))
            if headers:
                event.extra_headers = tuple(SipHeader(name=n, bodys=v) for n, v in headers)
            call.uas.recvEvent(event)

        self.reactor.call(send)

    async def ring(self, call_id: str) -> None:
        call = self._call(call_id)
        if call.direction != "in" or call.state != "offered":
            return
        call.state = "ringing"
        self.reactor.call(call.uas.recvEvent, CCEventRing((180, "Ringing", None)))

    async def answer(self, call_id: str, local_media: MediaEndpoint) -> None:
        call = self._call(call_id)
        if call.direction != "in" or call.state not in ("offered", "ringing"):
            raise UnknownCall(call_id)
        assert call.remote_media is not None
        if call.late_offer:
            # RFC 3261 13.2.1: our 200 carries the offer (what the handler gives, in the
            # codec of LATE_OFFER it chose); sippy then waits for the ACK (PreConnect:
            # ack_wait) and hands us its body as a Connect event.
            chosen = replace(local_media, codecs=local_media.codecs[:1])
            event_type = CCEventPreConnect
        else:
            chosen = sdp.answer_codecs(call.remote_media, local_media)
            event_type = CCEventConnect
        call.local_media = chosen
        call.state = "answered"
        body = MsgBody(sdp.build(chosen, session_id=call.session_id, version=call.sdp_version))
        self.reactor.call(call.uas.recvEvent, event_type((200, "OK", body)))

    async def reject(self, call_id: str, status: int, reason: str) -> None:
        call = self._call(call_id)
        if call.direction != "in" or call.state not in ("offered", "ringing"):
            raise UnknownCall(call_id)
        self._fail(call, status, reason, [])

    # -- dialog events (reactor thread) ----------------------------------------------

    def _ua_event(self, call: _Call, event: Any, ua: Any) -> None:
        handler = self._handler_or_fail()
        if isinstance(event, CCEventInfo):
            digit = _info_digit(event.getData())
            if digit is not None:
                self._post(handler.dtmf(call.call_id, digit))
        elif isinstance(event, CCEventUpdate):
            self._answer_reinvite(call, ua, event)
        elif call.direction == "in":
            if isinstance(event, CCEventDisconnect):
                self._ended(call, "remote_bye" if call.state == "answered" else "cancelled", None)
            elif isinstance(event, CCEventConnect) and call.late_offer:
                self._late_answer(call, ua, event)
        else:
            self._uac_event(call, event, ua)

    def _late_answer(self, call: _Call, ua: Any, event: Any) -> None:
        """The ACK to our 200 of a late offer: its SDP is the answer. Without a usable one
        (no SDP, no address, not our codec) there is no media: BYE."""
        call.late_offer = False  # once: a later ACK (re-INVITE) is no answer to this
        body = event.getData()[2]
        try:
            remote = sdp.parse(str(body)).endpoint if body is not None else None
        except sdp.SdpError:
            remote = None
        ours = call.local_media.codecs[0][0] if call.local_media else None
        if remote is None or remote.port == 0 or ours not in {c for c, _ in remote.codecs}:
            log.info("SIP: call %s: the ACK carried no usable answer; BYE", call.call_id)
            ua.recvEvent(CCEventDisconnect())
            self._ended(call, "failed", 488)
            return
        call.remote_media = remote
        self._post(self._handler_or_fail().call_answered(call.call_id, remote))

    def _answer_reinvite(self, call: _Call, ua: Any, event: Any) -> None:
        """A re-INVITE from the far end (hold, a new address): we answer with our current
        endpoint; the port gives the orchestrator no say here (yet)."""
        body = event.getData()
        if body is not None:
            try:
                call.remote_media = sdp.parse(str(body)).endpoint
            except sdp.SdpError:
                ua.recvEvent(CCEventFail((488, "Not Acceptable Here")))
                return
        if call.local_media is None:
            ua.recvEvent(CCEventFail((491, "Request Pending")))
            return
        call.sdp_version += 1
        text = sdp.build(call.local_media, session_id=call.session_id, version=call.sdp_version)
        ua.recvEvent(CCEventConnect((200, "OK", MsgBody(text))))

    def _ended(self, call: _Call, cause: str, status: int | None) -> None:
        if call.state == "ended" or call.hung_up_by_us:
            self._calls.pop(call.call_id, None)
            return
        call.state = "ended"
        self._calls.pop(call.call_id, None)
        self._post(self._handler_or_fail().call_ended(call.call_id, cause, status))

    # -- outbound --------------------------------------------------------------------------

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
        call = _Call(
            call_id=call_id or f"sip-{secrets.token_hex(8)}",
            direction="out",
            org_id=org_id,
            local_media=local_media,
        )
        destinations = await self._destinations(org_id, target)
        body_text = sdp.build(local_media, session_id=call.session_id, version=1)
        self._calls[call.call_id] = call

        def send() -> None:
            for hop, user, contact_uri, creds in destinations:
                username, password = creds
                ua = self._new_ua(
                    call,
                    nh_address=hop,
                    username=username,
                    password=password,
                )
                call.legs.append(ua)
                ua.recvEvent(_TryTo(contact_uri, user, caller_id, MsgBody(body_text)))

        self.reactor.call(send)
        assert self._loop is not None
        self._loop.call_later(timeout_s, self._no_answer, call)
        return call.call_id

    def _no_answer(self, call: _Call) -> None:
        """The ring timeout (event loop): CANCEL every fork and report ``no_answer``."""
        if call.state not in ("offered", "ringing") or self._calls.get(call.call_id) is not call:
            return
        self._calls.pop(call.call_id, None)
        call.state = "ended"

        def cancel() -> None:
            for leg in call.legs:
                leg.recvEvent(CCEventDisconnect())

        self.reactor.call(cancel)
        self._post(self._handler_or_fail().call_ended(call.call_id, "no_answer", None))

    async def _destinations(
        self, org_id: str, target: Target
    ) -> list[tuple[tuple[str, int], str, str | None, tuple[str | None, str | None]]]:
        """(next hop, user part, Request-URI or None, (auth user, password)) per fork."""
        if target.kind == "phone":
            now = datetime.fromtimestamp(self.clock(), UTC)
            phone = await self.directory.phone(target.value)
            if phone is None or phone.org_id != org_id:
                raise NotRegistered(target.value)
            bindings = await self.directory.bindings(phone.username, now)
            if not bindings:
                raise NotRegistered(target.value)
            # Send to the address the REGISTER came from (it traverses NAT), with the
            # registered Contact as the Request-URI.
            return [
                ((b.source_host, b.source_port), phone.username, b.contact, (None, None))
                for b in bindings
            ]
        trunk = await self.directory.trunk(org_id, target.trunk_id)
        if trunk is None or not trunk.enabled:
            raise NoTrunk(target.trunk_id or "default")
        return [((trunk.host, trunk.port), target.value, None, (trunk.username, trunk.password))]

    def _uac_event(self, call: _Call, event: Any, ua: Any) -> None:
        handler = self._handler_or_fail()
        if call.state == "ended":
            return
        if isinstance(event, CCEventRing):
            data = event.getData()
            status = int(data[0]) if data else 180
            if call.state == "offered" and status in (180, 183):
                call.state = "ringing"
                self._post(handler.call_progress(call.call_id, status))
        elif isinstance(event, CCEventConnect) and call.state == "answered":
            if ua is call.winner:  # the answer to our re-INVITE (update_media)
                body = event.getData()[2]
                with contextlib.suppress(sdp.SdpError):
                    call.remote_media = sdp.parse(str(body)).endpoint if body else call.remote_media
            else:
                ua.recvEvent(CCEventDisconnect())  # a second fork answered too late
        elif isinstance(event, CCEventConnect):
            if call.winner is not None and call.winner is not ua:
                ua.recvEvent(CCEventDisconnect())  # a second fork answered too late
                return
            call.winner = ua
            for other in call.legs:
                if other is not ua:
                    other.recvEvent(CCEventDisconnect())  # CANCEL the other forks
            body = event.getData()[2]
            try:
                remote = sdp.parse(str(body)).endpoint if body is not None else None
            except sdp.SdpError:
                remote = None
            if remote is None:
                ua.recvEvent(CCEventDisconnect())
                self._ended(call, "rejected", 488)
                return
            call.remote_media = remote
            call.state = "answered"
            self._post(handler.call_answered(call.call_id, remote))
        elif isinstance(event, CCEventFail | CCEventDisconnect):
            if call.state == "answered":
                if ua is call.winner:
                    self._ended(call, "remote_bye", None)
                return
            call.legs = [leg for leg in call.legs if leg is not ua]
            if call.legs:
                return  # other forks still ring
            failed = int(event.getData()[0]) if isinstance(event, CCEventFail) else None
            self._ended(call, "rejected" if failed is not None else "timeout", failed)

    # -- both directions -------------------------------------------------------------------

    async def hangup(self, call_id: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        call.hung_up_by_us = True
        previous, call.state = call.state, "ended"
        if call.direction == "in":
            if previous == "answered":
                self.reactor.call(call.uas.recvEvent, CCEventDisconnect())
            else:
                self.reactor.call(call.uas.recvEvent, CCEventFail((487, "Request Terminated")))
            return

        def send() -> None:
            for leg in call.legs:
                leg.recvEvent(CCEventDisconnect())  # BYE when connected, else CANCEL

        self.reactor.call(send)

    async def update_media(self, call_id: str, local_media: MediaEndpoint) -> None:
        call = self._call(call_id)
        if call.state != "answered" or call.remote_media is None:
            raise UnknownCall(call_id)
        ua = call.uas if call.direction == "in" else call.winner
        if call.direction == "in":
            local_media = sdp.answer_codecs(call.remote_media, local_media)
        call.local_media = local_media
        call.sdp_version += 1
        text = sdp.build(local_media, session_id=call.session_id, version=call.sdp_version)
        self.reactor.call(ua.recvEvent, CCEventUpdate(MsgBody(text)))


class _TryTo(CCEventTry):  # type: ignore[misc]
    """An INVITE whose Request-URI is a registered Contact rather than user@next-hop."""

    def __init__(self, contact_uri: str | None, user: str, caller: str, body: Any) -> None:
        super().__init__((None, caller, user, body, None, None))
        self.contact_uri = contact_uri

    def onUacSetupComplete(self, uac: Any) -> None:  # noqa: N802
        if self.contact_uri is not None:
            uac.rTarget = SipURL(url=self.contact_uri)


def _info_digit(data: Any) -> str | None:
    """The digit of a SIP INFO DTMF body: ``application/dtmf-relay`` (``Signal=5``) or
    ``application/dtmf`` (``5``)."""
    body = data[0] if isinstance(data, tuple) and data else data
    if body is None:
        return None
    text = str(body).strip()
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "signal":
            text = value.strip()
            break
    if len(text) == 1 and text in "0123456789*#ABCDabcd":
        return text.upper()
    if text in ("10", "11"):
        return "*" if text == "10" else "#"
    return None


def replace_port(endpoint: MediaEndpoint, port: int) -> MediaEndpoint:
    return replace(endpoint, port=port)
