"""The voice orchestrator: joins SIP signaling, the media engine, the IVR, routing,
interactions and identity into calls that a contact center can work.

An inbound call, end to end:

1. signaling reports `call_offered`; the caller id is normalised to E.164 and matched to
   a customer (screen pop), the interaction (channel "call") is created, a media leg is
   opened and the call answered with its address;
2. the IVR flow of the dialled number runs on the caller's leg (`CallAudio`) and ends in
   an outcome: queue, voicemail, callback, transfer or hang-up;
3. queued, the caller hears music on hold with position and estimated-wait
   announcements, and may press 1 to be called back keeping their place;
4. routing offers the interaction to an agent (`OfferCreated` on the bus): the agent's
   registered phone rings for the offer's ring timeout; answered, the offer is accepted
   for the agent (routing's atomic accept) and caller and agent are bridged (recorded,
   after a consent announcement); refused, the offer is declined; unanswered, routing
   expires it and offers the next agent;
5. either side hangs up: the other leg is released, the interaction goes to wrap-up (or
   is abandoned if nobody answered), the recording is closed.

A media process that dies takes its calls with it: they end with cause ``media_lost``,
their CDRs are closed, and calls on other media processes and the web app carry on.

Every database change goes through the domain services in a worker thread
(``orchestrator/records.py``); this module decides *when*. The live state of calls is
in a `CallTable` owned by this object and touched only on its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jietong.core.ids import new_id
from jietong.events.base import Envelope
from jietong.telephony.media import control as mc
from jietong.telephony.media.client import MediaClient, MediaError, MediaProcessLost
from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.audio import LegAudio, PromptCache, PromptWaiters
from jietong.telephony.orchestrator.base import CALL
from jietong.telephony.orchestrator.contracts import (
    CallLog,
    Database,
    DirectToQueue,
    IvrResult,
    IvrRunner,
    NoCallLog,
    PhoneDirectory,
    VoiceOptions,
)
from jietong.telephony.orchestrator.live import CallTable, Leg, LegRole, LiveCall, Phase
from jietong.telephony.orchestrator.outbound import OutboundMixin
from jietong.telephony.orchestrator.parties import PartiesMixin
from jietong.telephony.orchestrator.queueing import QueueingMixin
from jietong.telephony.policy.model import Effective, SiteRecording, effective
from jietong.telephony.ports import (
    CallGone,
    CallSignaling,
    Codec,
    IncomingCall,
    MediaEndpoint,
    Target,
)

__all__ = [
    "CallLog",
    "Database",
    "DirectToQueue",
    "IvrResult",
    "IvrRunner",
    "NoCallLog",
    "PhoneDirectory",
    "VoiceOptions",
    "VoiceService",
]
log = logging.getLogger(__name__)

# (organisation, prompt name, language) -> the uploaded prompt as a file, or None.
UploadedPrompt = Callable[[str, str, str], Awaitable[Path | None]]


class VoiceService(QueueingMixin, PartiesMixin, OutboundMixin):
    """Implements `SignalingHandler`; holds signaling, media processes and the IVR."""

    def __init__(
        self,
        *,
        signaling: CallSignaling,
        db: Database,
        options: VoiceOptions,
        phones: PhoneDirectory,
        ivr: IvrRunner | None = None,
        call_log: CallLog | None = None,
        uploaded_prompt: UploadedPrompt | None = None,
    ) -> None:
        self.signaling = signaling
        self.db = db
        self.options = options
        self.phones = phones
        self.ivr: IvrRunner = ivr or DirectToQueue()
        self.call_log: CallLog = call_log or NoCallLog()
        self.uploaded_prompt = uploaded_prompt
        self.calls = CallTable()
        self.prompts = PromptCache(options.media_root)
        self.waiters = PromptWaiters()
        self._media: list[MediaClient] = []
        self._pumps: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seen_events: dict[str, None] = {}
        self._offers_rung: dict[str, None] = {}  # insertion-ordered, trimmed

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.signaling.start(self)
        self._tasks.add(asyncio.create_task(self._offers_forever()))

    async def _offers_forever(self) -> None:
        """Correctness never depends on receiving routing's events (they only make voice
        quick): once a second the offers of waiting calls are read from the database, so
        an offer whose event was missed (another process's relay, a bus hiccup) still
        rings the phone."""
        while True:
            await asyncio.sleep(self.options.offer_sweep_s)
            try:
                await self.sweep_offers()
            except Exception:
                log.exception("voice: offer sweep failed")

    async def sweep_offers(self) -> int:
        """Ring the phones of pending offers of waiting calls; returns how many."""
        waiting: dict[str, list[str]] = {}
        for call in self.calls.all():
            if call.phase is Phase.QUEUED and call.agent is None and call.interaction_id:
                waiting.setdefault(call.org_id, []).append(call.interaction_id)
        rung = 0
        for org_id, ids in waiting.items():
            offers = await self.db.run(records.pending_call_offers, org_id, ids, self.db.clock())
            for offer in offers:
                found = self.calls.by_interaction(offer.interaction_id)
                if found is not None and offer.offer_id not in self._offers_rung:
                    self._spawn(
                        self._ring_agent(found, offer.offer_id, offer.agent_id, offer.ring_seconds)
                    )
                    rung += 1
        return rung

    async def stop(self) -> None:
        for call in self.calls.all():
            await self._hang_up_everything(call, "shutdown")
        await self.signaling.stop()
        for task in [*self._pumps, *self._tasks]:
            task.cancel()
        for task in [*self._pumps, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def add_media(self, client: MediaClient) -> None:
        """Carry new calls on this media process too; its events are read from now on."""
        self._media.append(client)
        self._pumps.append(asyncio.create_task(self._pump(client)))

    def media_clients(self) -> list[MediaClient]:
        return [m for m in self._media if m.lost is None]

    def _pick_media(self) -> MediaClient | None:
        alive = self.media_clients()
        if not alive:
            return None
        return min(alive, key=lambda m: len(self.calls.on_media(m)))

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- the bus (any thread) -------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Bus handler: routing's offers and callbacks of channel "call" come in here."""
        if envelope.event_type not in _ROUTING_EVENTS:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_routing_event, envelope)

    def _on_routing_event(self, envelope: Envelope) -> None:
        if envelope.event_id in self._seen_events:  # at-least-once delivery
            return
        self._seen_events[envelope.event_id] = None
        if len(self._seen_events) > 10_000:
            self._seen_events.pop(next(iter(self._seen_events)))
        payload = envelope.payload
        call = self.calls.by_interaction(str(payload.get("interaction_id", "")))
        if envelope.event_type == "OfferCreated":
            if call is not None and payload.get("channel") == CALL:
                self._spawn(
                    self._ring_agent(
                        call,
                        str(payload["offer_id"]),
                        str(payload["agent_id"]),
                        float(payload["ring_timeout_seconds"]),
                    )
                )
        elif call is not None and _ends_offer_of(call, envelope):
            self._spawn(self._stop_ringing(call, "offer_" + envelope.event_type[5:].lower()))
        elif envelope.event_type == "OfferAccepted" and call is not None and call.agent:
            if call.agent.offer_id == payload.get("offer_id"):
                call.agent.accepted = True  # answered on the desk: the phone still rings
        elif envelope.event_type == "InteractionStateChanged" and call is not None:
            trigger = payload.get("trigger")
            if trigger == "transfer" and call.phase is Phase.BRIDGED:
                self._spawn(self._back_to_queue(call))
            elif trigger == "end" and _agent_on(call):
                # The agent ended the conversation on the desk: the call ends with it.
                # (An interaction ended by us when the agent left a call that goes on,
                # a transfer to a number, has no agent on the call any more.)
                self._spawn(self.finish(call, "ended_on_desk", hang_up_caller=True))
        elif envelope.event_type == "CallbackStarted" and payload.get("channel") == CALL:
            self._spawn(self._callback(payload))

    # -- signaling events -----------------------------------------------------------------

    async def call_offered(self, call: IncomingCall) -> None:
        media = self._pick_media()
        if media is None:
            await self.signaling.reject(call.call_id, 503, "no media process")
            return
        codec = _choose_codec(call.remote_media)
        if codec is None:
            await self.signaling.reject(call.call_id, 488, "no common codec")
            return
        if call.phone_user is not None:  # an agent dialling out from their phone
            self._spawn(self._from_phone(call, codec))
            return
        caller = Leg(call.call_id, f"{call.call_id}-c", LegRole.CALLER, codec=codec[0])
        live = LiveCall(call.call_id, call.org_id, caller, media, dialled=call.dialled)
        self.calls.add(live)
        live.task = self._spawn(self._inbound(live, call, codec))

    async def _inbound(self, live: LiveCall, call: IncomingCall, codec: tuple[Codec, int]) -> None:
        try:
            await self.signaling.ring(call.call_id)
            live.contact = await self.db.run(
                records.open_inbound,
                call.org_id,
                caller=call.caller.user,
                display_name=call.caller.display_name,
                dialled=call.dialled,
                region=self.db.region,
                media_leg_id=live.caller.leg_id,
                trunk_id=call.trunk_id,
                node=self.options.node,
            )
            self.calls.set_interaction(live)
            await self.call_log.call_event(live, "arrived", {"caller": call.caller.user})
            try:
                info = await live.media.create_leg(
                    live.caller.leg_id,
                    codec=codec[0],
                    payload_type=codec[1],
                    remote=_remote_of(call),
                    call_id=live.key,
                    dtmf_payload_type=call.remote_media.telephone_event_pt,
                    # Answered below with a=rtcp-mux if offered (_endpoint), so mux now.
                    rtcp_mux=call.remote_media.rtcp_mux,
                    remote_rtcp_port=call.remote_media.rtcp_port,
                )
            except asyncio.CancelledError:
                # Hung up while the leg was being made: the engine makes it anyway (the
                # request was sent), so destroy it after, in order on the same connection.
                with contextlib.suppress(Exception):
                    await asyncio.shield(live.media.destroy_leg(live.caller.leg_id))
                raise
            if live.gone.is_set():
                with contextlib.suppress(MediaError):
                    await live.media.destroy_leg(live.caller.leg_id)
                return
            await self.signaling.answer(call.call_id, self._endpoint(info.local_port, codec, call))
            live.caller.answered = True
            await self.call_log.call_event(live, "answered", {})
            await self._after_answer(live, call)
        except CallGone:
            return
        except MediaError as exc:
            log.warning("call %s: media failed: %s", live.key, exc)
            await self.finish(live, "media_error", hang_up_caller=True)
        except Exception:
            log.exception("call %s failed", live.key)
            if not live.caller.answered:
                with contextlib.suppress(Exception):
                    await self.signaling.reject(call.call_id, 500, "server error")
                await self.finish(live, "error", hang_up_caller=False)
            else:
                await self.finish(live, "error", hang_up_caller=True)

    async def _after_answer(self, live: LiveCall, call: IncomingCall) -> None:
        assert live.contact is not None
        live.phase = Phase.IVR
        audio = LegAudio(live, self.prompts, self.waiters)
        await self.call_log.call_event(live, "ivr_entered", {})

        async def on_node(node: str, step: str) -> None:
            await self.call_log.call_event(live, "ivr_node", {"node": node, "step": step})

        result = await self.ivr(call, audio, live.contact, on_node)
        await self.call_log.call_event(
            live,
            "ivr_left",
            {
                "outcome": result.kind,
                "target": result.queue_id or result.number,
                "variables": dict(result.variables.values, language=result.variables.language),
            },
        )
        live.language = result.variables.language
        if result.kind == "queue":
            await self._queue(live, audio, result.queue_id, result.variables.language)
        elif result.kind == "voicemail" and result.voicemail is not None:
            await self._voicemail(live, result)
        elif result.kind == "callback":
            await self._callback_from_ivr(live, result)
        elif result.kind == "transfer" and result.number:
            await self._transfer_to_number(live, result.number)
        else:
            await self.finish(live, "ivr_hangup", hang_up_caller=True)

    async def call_progress(self, call_id: str, status: int) -> None:
        found = self.calls.by_leg_call(call_id)
        if found is not None:
            await self.call_log.call_event(found[0], "progress", {"status": status})

    async def call_answered(self, call_id: str, remote_media: MediaEndpoint) -> None:
        found = self.calls.by_leg_call(call_id)
        if found is None:
            # Answered after we gave up on it (a race with a cancel): release it.
            with contextlib.suppress(Exception):
                await self.signaling.hangup(call_id)
            return
        live, leg = found
        try:
            # The answer settles telephone-event (another type, or none), rtcp-mux (we
            # offer it in _local; a late offer's 200, already answered, did not) and may
            # name an RTCP port.
            await live.media.set_remote(
                leg.leg_id,
                remote_media.host,
                remote_media.port,
                rtcp_port=remote_media.rtcp_port,
                dtmf_payload_type=remote_media.telephone_event_pt,
                rtcp_mux=remote_media.rtcp_mux and not leg.answered,
            )
        except MediaError:
            await self.finish(live, "media_error", hang_up_caller=True)
            return
        if leg.answered:
            return  # a late offer's answer (in the ACK): only the far end's address was missing
        leg.answered = True
        if leg is live.caller and live.outbound and live.agent is not None:
            if live.pending_answer is not None:
                await self._customer_answered(live)  # the number an agent dialled answered
            else:
                await self._connect(live, live.agent)  # the customer answered our callback
        elif leg.role is LegRole.AGENT and leg is live.agent:
            await self._agent_answered(live, leg)
        elif leg.role is LegRole.EXTERNAL:
            await self._external_answered(live, leg)
        elif leg.role is LegRole.SUPERVISOR:
            await self._supervisor_answered(live, leg)

    async def call_ended(self, call_id: str, cause: str, sip_status: int | None) -> None:
        found = self.calls.by_leg_call(call_id)
        if found is None:
            return
        live, leg = found
        if leg is live.caller:
            await self.finish(live, cause, hang_up_caller=False)
        elif leg is live.agent:
            await self._agent_gone(live, leg, cause, sip_status)
        else:
            await self._other_gone(live, leg)

    async def dtmf(self, call_id: str, digit: str) -> None:
        found = self.calls.by_leg_call(call_id)
        if found is not None and found[1] is found[0].caller:
            found[0].digits.put_nowait(digit)

    # -- offers: ring the agent's phone -----------------------------------------------

    async def _ring_agent(
        self, live: LiveCall, offer_id: str, agent_id: str, ring_s: float
    ) -> None:
        if live.phase is not Phase.QUEUED or live.agent is not None:
            return
        if offer_id in self._offers_rung:  # the event and the sweep both saw it
            return
        self._offers_rung[offer_id] = None
        if len(self._offers_rung) > 10_000:
            self._offers_rung.pop(next(iter(self._offers_rung)))
        phone = await self.phones.phone_user_of(live.org_id, agent_id)
        if phone is None:
            # Nothing to ring: hand the call to the next agent rather than wait out the timeout.
            log.info("agent %s has no phone; declining offer %s", agent_id, offer_id)
            await self.db.run(
                records.decline_offer, live.org_id, agent_id, offer_id, self.db.clock()
            )
            return
        leg = Leg(new_id(), f"{live.key}-a{new_id()[-6:]}", LegRole.AGENT, live.caller.codec)
        leg.user_id, leg.offer_id = agent_id, offer_id
        live.agent = leg
        live.phase = Phase.RINGING
        self.calls.add_leg(live, leg)
        try:
            info = await live.media.create_leg(leg.leg_id, codec=leg.codec, call_id=live.key)
            await self.call_log.call_event(
                live,
                "offered",
                {"agent_id": agent_id, "offer": offer_id, "leg": leg, "phone": phone},
            )
            caller_id = (live.contact.caller_e164 if live.contact else None) or "anonymous"
            await self.signaling.originate(
                live.org_id,
                Target("phone", phone),
                caller_id,
                self._local(info.local_port, leg.codec),
                timeout_s=ring_s,
                call_id=leg.call_id,
            )
        except MediaError:
            await self.finish(live, "media_error", hang_up_caller=True)
        except Exception:
            log.exception("ringing agent %s failed", agent_id)
            await self._release_agent_leg(live, leg, hang_up=False)
            await self.db.run(
                records.decline_offer, live.org_id, agent_id, offer_id, self.db.clock()
            )

    async def _agent_answered(self, live: LiveCall, leg: Leg) -> None:
        assert leg.user_id is not None
        if live.gone.is_set():
            await self._release_agent_leg(live, leg, hang_up=True)
            return
        # Accepted already: on the desk, or a callback (accepted before we rang).
        accepted = leg.accepted or (
            leg.offer_id is not None
            and await self.db.run(
                records.accept_offer, live.org_id, leg.user_id, leg.offer_id, self.db.clock()
            )
        )
        if not accepted:
            # Too late: the offer expired or went elsewhere a moment ago.
            await self._release_agent_leg(live, leg, hang_up=True)
            return
        leg.accepted = True
        await self.call_log.call_event(
            live, "agent_answered", {"agent_id": leg.user_id, "leg": leg}
        )
        if live.outbound:
            await self._dial_customer(live)
        else:
            await self._connect(live, leg)

    async def _connect(self, live: LiveCall, leg: Leg) -> None:
        """Caller and agent into one bridge: consent announcement, music off, recording,
        as the policy of the call's queue says at this moment (`telephony.policy`). After a
        transfer back to the queue has finished taking the call apart (`live.moving`)."""
        async with live.moving:
            media = live.media
            await media.set_hold(live.caller.leg_id, False)
            policy = await self._recording_policy(live)
            if policy.record and policy.consent:
                await self._consent(live, policy.consent_prompt)
            live.connections += 1
            live.bridge_id = f"{live.key}-b{live.connections}"
            await media.create_bridge(live.bridge_id, (live.caller.leg_id, leg.leg_id))
            live.phase = Phase.BRIDGED
            live.connected.set()
            await self.call_log.call_event(live, "bridged", {"agent_id": leg.user_id, "leg": leg})
            if policy.record:
                await self._start_recording(live)

    async def _recording_policy(self, live: LiveCall) -> Effective:
        """Read per bridge, not cached: an admin's change applies to the next call, and a
        call transferred to another queue takes that queue's policy."""
        if live.interaction_id is None:
            return effective(None, SiteRecording(self.options.record_calls, retention_days=1))
        return await self.db.run(
            records.recording_policy, live.org_id, live.interaction_id, self.options.record_calls
        )

    async def _consent(self, live: LiveCall, prompt_name: str | None) -> None:
        language = live.language or self.options.language
        path = None
        if prompt_name is not None and self.uploaded_prompt is not None:
            path = await self._uploaded_consent(live.org_id, prompt_name, language)
        if path is None:  # no uploaded prompt chosen (or it is gone): the built-in sentence
            text = self.options.consent_text.get(language) or self.options.consent_text["en"]
            path = await self.prompts.speak(text, language)
        if path is None:
            return
        prompt_id = await self.prompts.load(live.media, path)
        done = self.waiters.expect(live.caller.leg_id)
        await live.media.play(live.caller.leg_id, prompt_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), 15)

    async def _uploaded_consent(self, org_id: str, name: str, language: str) -> Path | None:
        """The prompt in the caller's language, else in the other one."""
        assert self.uploaded_prompt is not None
        for lang in dict.fromkeys((language, "zh-CN", "en")):
            try:
                path = await self.uploaded_prompt(org_id, name, lang)
            except Exception:
                log.exception("consent prompt %s (%s) could not be read", name, lang)
                return None
            if path is not None:
                return path
        return None

    async def _start_recording(self, live: LiveCall) -> None:
        from jietong.telephony.recording import recording_path

        assert live.bridge_id is not None and live.interaction_id is not None
        name = f"{live.key}-{live.connections}"
        relative = recording_path(live.org_id, live.interaction_id, name, self.db.clock())
        (self.options.media_root / relative).parent.mkdir(parents=True, exist_ok=True)
        live.recording_path = await live.media.record_start(live.bridge_id, relative)
        await self.call_log.call_event(live, "recording_started", {"path": live.recording_path})

    async def _stop_ringing(self, live: LiveCall, cause: str) -> None:
        leg = live.agent
        if leg is None or leg.answered:
            return
        await self._release_agent_leg(live, leg, hang_up=True)
        await self.call_log.call_event(live, "offer_ended", {"cause": cause, "leg": leg})

    async def _release_agent_leg(self, live: LiveCall, leg: Leg, *, hang_up: bool) -> None:
        if live.agent is leg:
            live.agent = None
        if live.phase is Phase.RINGING:
            live.phase = Phase.QUEUED
        self.calls.drop_leg(leg)
        if hang_up:
            with contextlib.suppress(Exception):
                await self.signaling.hangup(leg.call_id)
        with contextlib.suppress(MediaError):
            await live.media.destroy_leg(leg.leg_id)

    async def _agent_gone(self, live: LiveCall, leg: Leg, cause: str, status: int | None) -> None:
        if leg.answered:
            await self.finish(live, "agent_hangup", hang_up_caller=True)
            return
        await self._release_agent_leg(live, leg, hang_up=False)
        await self.call_log.call_event(
            live, "offer_ended", {"cause": cause, "status": status, "leg": leg}
        )
        if cause == "rejected" and leg.user_id and leg.offer_id:
            # Busy or declined on the phone: decline now so routing offers the next agent;
            # a ring timeout is left to routing, which counts it as a missed offer.
            await self.db.run(
                records.decline_offer, live.org_id, leg.user_id, leg.offer_id, self.db.clock()
            )

    # -- the end ----------------------------------------------------------------------------

    async def finish(self, live: LiveCall, cause: str, *, hang_up_caller: bool) -> None:
        """End the whole call once: every leg released, recording closed, interaction moved
        on, CDR told. Safe to call again (later calls do nothing)."""
        if live.gone.is_set():
            return
        live.end_cause = cause
        live.gone.set()
        live.connected.set()
        self.calls.remove(live)
        if live.task is not None and live.task is not asyncio.current_task():
            live.task.cancel()
        legs = live.legs()
        for leg in legs:
            if leg is live.caller and not hang_up_caller:
                continue
            with contextlib.suppress(Exception):
                await self.signaling.hangup(leg.call_id)
        await self._release_media(live, legs)
        if live.interaction_id is not None:
            try:
                await self.db.run(records.end_call, live.org_id, live.interaction_id)
            except Exception:
                log.exception("call %s: could not end its interaction", live.key)
        await self.call_log.call_event(live, "ended", {"cause": cause})

    async def _release_media(self, live: LiveCall, legs: list[Leg]) -> None:
        media = live.media
        if media.lost is not None:
            return
        with contextlib.suppress(MediaError):
            if live.bridge_id is not None:
                if live.recording_path is not None:
                    await media.record_stop(live.bridge_id)
                await media.destroy_bridge(live.bridge_id)
            for leg in legs:
                with contextlib.suppress(MediaError):
                    await media.destroy_leg(leg.leg_id)

    async def _hang_up_everything(self, live: LiveCall, cause: str) -> None:
        await self.finish(live, cause, hang_up_caller=True)

    # -- media events -----------------------------------------------------------------

    async def _pump(self, media: MediaClient) -> None:
        async for event in media.events():
            try:
                await self._on_media_event(media, event)
            except Exception:
                log.exception("media event %r failed", event)

    async def _on_media_event(self, media: MediaClient, event: object) -> None:
        if isinstance(event, MediaProcessLost):
            await self._media_lost(media, event)
        elif isinstance(event, mc.DtmfReceived):
            found = self.calls.by_media_leg(event.leg_id)
            if found is not None and found[1] is found[0].caller:
                found[0].digits.put_nowait(event.digit)
        elif isinstance(event, mc.PromptFinished):
            self.waiters.finished(event.leg_id)
        elif isinstance(event, mc.LegTimedOut):
            found = self.calls.by_media_leg(event.leg_id)
            if found is not None:
                # No RTP for the timeout: the peer is gone without a BYE.
                live, leg = found
                if leg is live.caller or (leg is live.agent and leg.answered):
                    await self.finish(live, "rtp_timeout", hang_up_caller=True)

    async def _media_lost(self, media: MediaClient, lost: MediaProcessLost) -> None:
        """A media process died: every call it carried ends (cause ``media_lost``), with
        its CDR closed; nothing else is touched."""
        calls = self.calls.on_media(media)
        log.error(
            "media process %s lost (%s): ending %d calls", lost.engine, lost.reason, len(calls)
        )
        self.prompts.forget(media)
        await self.call_log.calls_lost(lost, calls)
        for live in calls:
            await self.finish(live, "media_lost", hang_up_caller=True)

    # -- helpers ----------------------------------------------------------------------

    def _endpoint(self, port: int, codec: tuple[Codec, int], call: IncomingCall) -> MediaEndpoint:
        return MediaEndpoint(
            self.options.media_host,
            port,
            (codec,),
            call.remote_media.telephone_event_pt,
            rtcp_mux=call.remote_media.rtcp_mux,  # the leg was created muxed if so
        )


_ROUTING_EVENTS = frozenset(
    {
        "OfferCreated",
        "OfferAccepted",
        "OfferExpired",
        "OfferRetracted",
        "OfferDeclined",
        "CallbackStarted",
        "InteractionStateChanged",
    }
)


def _agent_on(call: LiveCall) -> bool:
    return not call.gone.is_set() and call.agent is not None and call.agent.answered


def _ends_offer_of(call: LiveCall, envelope: Envelope) -> bool:
    """An offer whose phone is still ringing ended elsewhere (expired, retracted,
    declined on the desk): that phone must stop ringing."""
    leg = call.agent
    return (
        envelope.event_type in ("OfferExpired", "OfferRetracted", "OfferDeclined")
        and leg is not None
        and not leg.answered
        and leg.offer_id == envelope.payload.get("offer_id")
    )


def _remote_of(call: IncomingCall) -> tuple[str, int] | None:
    """Where the caller's RTP goes; unknown until the ACK for a late offer."""
    return None if call.late_offer else (call.remote_media.host, call.remote_media.port)


def _choose_codec(remote: MediaEndpoint) -> tuple[Codec, int] | None:
    """The caller's first codec that we speak (their order of preference)."""
    for name, pt in remote.codecs:
        if name in ("PCMU", "PCMA"):
            return name, pt
    return None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voice task failed", exc_info=task.exception())
