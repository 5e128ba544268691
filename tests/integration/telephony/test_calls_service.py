"""The call service on real databases: a call's life recorded leg by leg, its CDR, its
interaction settled, its events and their audience, illegal moves refused, calls closed
when their media process dies; CDRs over HTTP, authorised like interactions."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jietong.app.asgi import API_PREFIX, create_app
from jietong.app.platform import Platform
from jietong.core.errors import Conflict, IllegalTransition, InvalidInput
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.interactions import service as interactions
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate
from jietong.storage.tables import InteractionRow, OutboxRow
from jietong.storage.tables_voice import VoiceCdrRow, VoiceLegEventRow
from jietong.telephony.calls import service as calls
from jietong.telephony.calls.model import CallDirection, EndCause, LegKind, LegTrigger
from tests.conftest import Tenant, issue_all_scopes, make_tenant, make_user

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, platform: Platform) -> None:
        self.now = T0
        platform.clock = lambda: self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(platform: Platform) -> Clock:
    return Clock(platform)


def make_queue(platform: Platform, tenant: Tenant, team_id: str, name: str = "Billing") -> str:
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, tenant.admin, QueueCreate(name=name, channels=["call"], team_id=team_id)
        )
    return queue.id


def inbound(platform: Platform, org_id: str, queue_id: str | None = None) -> tuple[str, str]:
    with platform.uow() as uow:
        view = calls.open_call(
            uow, org_id, direction=CallDirection.INBOUND, caller="+8613812345678",
            dialled="4008001234", queue_id=queue_id, media_leg_id="m-caller",
        )  # fmt: skip
    return view.call.id, view.customer_leg.id


def test_an_answered_call_is_recorded_leg_by_leg(
    platform: Platform, tenant_a: Tenant, clock: Clock
) -> None:
    org, agent = (
        tenant_a.org_id,
        make_user(platform, tenant_a.org_id, "ann", Role.AGENT, [tenant_a.team_id]),
    )
    queue_id = make_queue(platform, tenant_a, tenant_a.team_id)
    call_id, customer = inbound(platform, org, queue_id)
    clock.advance(1)
    with platform.uow() as uow:
        calls.leg_event(uow, org, call_id, customer, LegTrigger.ANSWER)
        calls.ivr_entered(uow, org, call_id)
    clock.advance(12)
    with platform.uow() as uow:
        calls.ivr_node(uow, org, call_id, "main", "menu")
        calls.ivr_left(uow, org, call_id, "queue", target=queue_id, variables={"language": "en"})
        calls.queue_entered(uow, org, call_id, queue_id)
    with platform.uow() as uow:  # routing moves the interaction as for any channel
        view = calls.get_call(uow, org, call_id)
        system = system_actor(org)
        interactions.transition_interaction(uow, system, view.call.interaction_id, "enqueue")
        interactions.transition_interaction(
            uow, system, view.call.interaction_id, "offer", assigned_user_id=agent.user_id
        )
    clock.advance(20)
    with platform.uow() as uow:
        calls.offered(uow, org, call_id, agent.user_id)
        agent_leg = calls.add_leg(
            uow, org, call_id, kind=LegKind.AGENT, party="ann-phone", user_id=agent.user_id
        )
    clock.advance(4)
    with platform.uow() as uow:
        calls.answered_by_agent(
            uow, org, call_id, agent_user_id=agent.user_id, agent_leg_id=agent_leg.id
        )
        interactions.transition_interaction(uow, agent, view.call.interaction_id, "accept")
    clock.advance(60)
    with platform.uow() as uow:
        calls.hold(uow, org, call_id)
    clock.advance(15)
    with platform.uow() as uow:
        calls.resume(uow, org, call_id)
        with pytest.raises(IllegalTransition):
            calls.resume(uow, org, call_id)  # not held
    clock.advance(30)
    with platform.uow() as uow:
        calls.end_leg(uow, org, call_id, agent_leg.id, EndCause.AGENT_HANGUP)
    with platform.uow() as uow:
        call = calls.get_call(uow, org, call_id)
        assert call.call.state == "active"  # the customer is still there (unbridged)
        assert call.customer_leg.state == "answered"
        calls.end_call(uow, org, call_id, EndCause.SYSTEM_HANGUP, disposition="resolved")
    with platform.uow() as uow:
        cdr = uow.session.get(VoiceCdrRow, call_id)
        interaction = uow.session.get(InteractionRow, view.call.interaction_id)
        assert cdr is not None and interaction is not None
        assert (cdr.ivr_s, cdr.queue_wait_s, cdr.offers, cdr.holds, cdr.hold_s) == (
            12.0,
            24.0,
            1,
            1,
            15.0,
        )
        assert cdr.talk_s == 60 + 30 and cdr.agent_user_id == agent.user_id
        assert (cdr.team_id, cdr.queue_id, cdr.disposition) == (
            tenant_a.team_id,
            queue_id,
            "resolved",
        )
        assert cdr.end_cause == "system_hangup" and not cdr.abandoned
        assert cdr.variables == {"language": "en"}
        assert {leg["kind"] for leg in cdr.legs} == {"customer", "agent"}
        assert interaction.state == "wrap_up"  # connected -> end, settled by end_call
        history = uow.session.scalars(
            select(VoiceLegEventRow)
            .where(VoiceLegEventRow.call_id == call_id)
            .order_by(VoiceLegEventRow.id)
        ).all()
        times = [row.at for row in history]
        assert times == sorted(times)
        moves = [
            (r.leg_id, r.trigger) for r in history if r.kind == "state" and r.leg_id == customer
        ]
        assert [t for _, t in moves] == ["answer", "bridge", "hold", "resume", "unbridge", "end"]
        events = uow.session.scalars(
            select(OutboxRow).where(OutboxRow.org_id == org, OutboxRow.event_type.like("Call%"))
        ).all()
        kinds = [e.event_type for e in events]
        assert kinds[0] == "CallStarted" and "CallAnswered" in kinds and kinds[-1] == "CallEnded"
        ended = next(e for e in events if e.event_type == "CallEnded")
        assert tenant_a.team_id in ended.audience["team_ids"]
        answered = next(e for e in events if e.event_type == "CallAnswered")
        assert agent.user_id in answered.audience["user_ids"]


def test_nothing_moves_an_ended_call(platform: Platform, tenant_a: Tenant, clock: Clock) -> None:
    org = tenant_a.org_id
    call_id, customer = inbound(platform, org)
    clock.advance(2)
    with platform.uow() as uow:
        calls.end_leg(uow, org, call_id, customer, EndCause.CUSTOMER_HANGUP)
    with platform.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(VoiceLegEventRow))
        for attempt in (
            lambda: calls.leg_event(uow, org, call_id, customer, LegTrigger.ANSWER),
            lambda: calls.hold(uow, org, call_id),
            lambda: calls.end_call(uow, org, call_id, EndCause.FAILED),
            lambda: calls.queue_entered(uow, org, call_id, "q"),
        ):
            with pytest.raises(IllegalTransition):
                attempt()
        uow.session.rollback()
        assert uow.session.scalar(select(func.count()).select_from(VoiceLegEventRow)) == count
        cdr = uow.session.get(VoiceCdrRow, call_id)
        assert cdr is not None and cdr.abandon_point == "ringing" and cdr.short_abandon
        interaction = uow.session.get(InteractionRow, cdr.interaction_id)
        assert interaction is not None and interaction.state == "abandoned"
    with platform.uow() as uow:  # the disposition may still come after the end
        assert calls.set_disposition(uow, org, call_id, "spam").disposition == "spam"


def test_another_organisation_cannot_touch_the_call(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    call_id, customer = inbound(platform, tenant_a.org_id)
    with platform.uow() as uow:
        with pytest.raises(calls.CallNotFound):
            calls.leg_event(uow, tenant_b.org_id, call_id, customer, LegTrigger.ANSWER)
        with pytest.raises(calls.CallNotFound):
            calls.get_call(uow, tenant_b.org_id, call_id)


def test_a_dead_media_process_closes_its_calls_in_every_organisation(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    a_call, a_leg = inbound(platform, tenant_a.org_id)
    with platform.uow() as uow:
        b_call = calls.open_call(
            uow, tenant_b.org_id, direction=CallDirection.INBOUND, caller="+861", dialled="1",
            media_leg_id="m-b",
        ).call.id  # fmt: skip
    other_call, _ = inbound(platform, tenant_a.org_id)  # on another media process
    with platform.uow() as uow:
        calls.leg_event(uow, tenant_a.org_id, a_call, a_leg, LegTrigger.ANSWER)
    clock.advance(3)
    with platform.uow() as uow:
        # Named by call id (a) or only by its media leg (b); "other" is on a live process.
        closed = calls.close_calls_lost(uow, [a_call], ["m-b"])
    assert sorted(closed) == sorted([a_call, b_call])
    with platform.uow() as uow:
        assert calls.close_calls_lost(uow, [a_call], ["m-b"]) == []  # repeating is harmless
        for call_id in (a_call, b_call):
            cdr = uow.session.get(VoiceCdrRow, call_id)
            assert cdr is not None and cdr.end_cause == "media_lost" and cdr.ended_at == clock.now
            assert not cdr.abandoned
        other = uow.session.get(VoiceCdrRow, other_call)
        assert other is not None and other.ended_at is None


# -- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as client:
        yield client


def _token(platform: Platform, actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_all_scopes(platform, actor)}"}


def test_cdrs_are_authorised_like_interactions(
    platform: Platform, api: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    org = tenant_a.org_id
    with platform.uow() as uow:
        other_team = org_service.create_team(uow, tenant_a.admin, TeamCreate(name="Repairs")).id
    ours = make_queue(platform, tenant_a, tenant_a.team_id)
    theirs = make_queue(platform, tenant_a, other_team, "Repairs")
    mine, _ = inbound(platform, org, ours)
    clock.advance(1)
    hidden, hidden_leg = inbound(platform, org, theirs)
    with platform.uow() as uow:
        calls.end_leg(uow, org, hidden, hidden_leg, EndCause.CUSTOMER_HANGUP)
    agent = _token(platform, make_user(platform, org, "agent-a", Role.AGENT, [tenant_a.team_id]))
    supervisor = _token(platform, make_user(platform, org, "sup-a", Role.SUPERVISOR, []))
    url = f"{API_PREFIX}/voice/cdrs"

    listed = api.get(url, headers=agent).json()["items"]
    assert [c["call_id"] for c in listed] == [mine]
    assert api.get(f"{url}/{mine}", headers=agent).status_code == 200
    assert api.get(f"{url}/{hidden}", headers=agent).status_code == 404
    assert api.get(f"{url}/{hidden}", headers=tenant_b.headers).status_code == 404
    assert api.get(url, headers=tenant_b.headers).json()["items"] == []
    every = api.get(url, headers=supervisor).json()["items"]
    assert [c["call_id"] for c in every] == [hidden, mine]  # newest first
    page = api.get(url, headers=supervisor, params={"limit": 1}).json()
    rest = api.get(url, headers=supervisor, params={"cursor": page["next_cursor"]}).json()
    assert [c["call_id"] for c in page["items"] + rest["items"]] == [hidden, mine]
    abandoned = api.get(url, headers=supervisor, params={"abandoned": "true"}).json()["items"]
    assert [c["call_id"] for c in abandoned] == [hidden]
    assert abandoned[0]["abandon_point"] == "ringing"

    assert api.get(f"{url}/export.csv", headers=agent).status_code == 403
    exported = api.get(f"{url}/export.csv", headers=supervisor)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["call_id"] for r in rows] == [hidden, mine]
    assert rows[0]["abandoned"] == "true" and rows[0]["caller"] == "+8613812345678"

    # Bad input is a clear 4xx, never a 500.
    assert (
        api.get(url, headers=supervisor, params={"since": "2026-11-23T02:00:00"}).status_code == 422
    )
    assert api.get(url, headers=supervisor, params={"cursor": "!!"}).status_code == 422
    assert api.get(f"{url}/not-an-id", headers=supervisor).status_code == 404
    assert api.get(url).status_code == 401


def test_csv_export_neutralises_formulas(
    platform: Platform, api: TestClient, tenant_a: Tenant
) -> None:
    with platform.uow() as uow:
        calls.open_call(
            uow, tenant_a.org_id, direction=CallDirection.INBOUND,
            caller='=HYPERLINK("http://evil")', dialled="+8610",
        )  # fmt: skip
    text = api.get(f"{API_PREFIX}/voice/cdrs/export.csv", headers=tenant_a.headers).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["caller"].startswith("'=") and row["dialled"] == "+8610"


def test_a_second_tenant_sees_no_cdr_of_the_first(platform: Platform, api: TestClient) -> None:
    a, b = make_tenant(platform, "voice-a"), make_tenant(platform, "voice-b")
    call_id, _ = inbound(platform, a.org_id)
    assert api.get(f"{API_PREFIX}/voice/cdrs/{call_id}", headers=a.headers).status_code == 200
    assert api.get(f"{API_PREFIX}/voice/cdrs/{call_id}", headers=b.headers).status_code == 404


def test_a_blind_transfer_to_a_number_keeps_counting_talk_time(
    platform: Platform, tenant_a: Tenant, clock: Clock
) -> None:
    org = tenant_a.org_id
    agent = make_user(platform, org, "tom", Role.AGENT, [tenant_a.team_id])
    call_id, customer = inbound(platform, org)
    with platform.uow() as uow:
        calls.leg_event(uow, org, call_id, customer, LegTrigger.ANSWER)
        leg = calls.add_leg(uow, org, call_id, kind=LegKind.AGENT, party="p", user_id=agent.user_id)
        calls.answered_by_agent(uow, org, call_id, agent_user_id=agent.user_id, agent_leg_id=leg.id)
    clock.advance(10)
    with platform.uow() as uow:
        calls.transfer(uow, org, call_id, target="+862155550000", mode="blind")
        calls.end_leg(uow, org, call_id, leg.id, EndCause.TRANSFERRED)
        external = calls.add_leg(uow, org, call_id, kind=LegKind.EXTERNAL, party="+862155550000")
    clock.advance(5)
    with platform.uow() as uow:
        calls.leg_event(uow, org, call_id, external.id, LegTrigger.ANSWER)
        calls.leg_event(uow, org, call_id, external.id, LegTrigger.BRIDGE)
        assert calls.get_call(uow, org, call_id).customer_leg.state == "bridged"
    clock.advance(20)
    with platform.uow() as uow:
        calls.end_leg(uow, org, call_id, customer, EndCause.CUSTOMER_HANGUP)
    with platform.uow() as uow:
        row = uow.session.get(VoiceCdrRow, call_id)
        assert row is not None
        assert (row.transfers, row.transferred_to, row.talk_s) == (1, "+862155550000", 30.0)
        assert not row.abandoned
        legs = {leg["kind"]: leg for leg in row.legs}
        assert legs["external"]["talk_s"] == 20.0 and legs["agent"]["end_cause"] == "transferred"


def test_a_retried_open_and_a_bad_cause_are_refused(platform: Platform, tenant_a: Tenant) -> None:
    org = tenant_a.org_id
    call_id = "0" * 31 + "1"
    with platform.uow() as uow:
        calls.open_call(uow, org, direction=CallDirection.INBOUND, caller="+86", dialled="1",
                        call_id=call_id)  # fmt: skip
    with platform.uow() as uow:
        before = uow.session.scalar(select(func.count()).select_from(InteractionRow))
        with pytest.raises(Conflict):
            calls.open_call(uow, org, direction=CallDirection.INBOUND, caller="+86",
                            dialled="1", call_id=call_id)  # fmt: skip
        with pytest.raises(InvalidInput):
            calls.open_call(uow, org, direction=CallDirection.INBOUND, caller="+86",
                            dialled="1", call_id="not-an-id")  # fmt: skip
        # No interaction was left behind by the refused attempts.
        assert uow.session.scalar(select(func.count()).select_from(InteractionRow)) == before
        leg = calls.get_call(uow, org, call_id).customer_leg.id
        with pytest.raises(InvalidInput):
            calls.leg_event(uow, org, call_id, leg, LegTrigger.END, data={"cause": "bored"})


def test_the_summary_counts_what_the_actor_may_see(
    platform: Platform, api: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    org = tenant_a.org_id
    with platform.uow() as uow:
        other_team = org_service.create_team(uow, tenant_a.admin, TeamCreate(name="Other")).id
    ours, theirs = (
        make_queue(platform, tenant_a, tenant_a.team_id),
        make_queue(platform, tenant_a, other_team, "Other"),
    )
    for queue_id, wait in ((ours, 2.0), (ours, 30.0), (theirs, 30.0)):
        call_id, leg = inbound(platform, org, queue_id)
        with platform.uow() as uow:
            calls.leg_event(uow, org, call_id, leg, LegTrigger.ANSWER)
            calls.queue_entered(uow, org, call_id, queue_id)
        clock.advance(wait)
        with platform.uow() as uow:
            calls.end_leg(uow, org, call_id, leg, EndCause.CUSTOMER_HANGUP)
    agent = _token(platform, make_user(platform, org, "kpi-agent", Role.AGENT, [tenant_a.team_id]))
    url = f"{API_PREFIX}/voice/cdrs/summary"
    mine = api.get(url, headers=agent).json()
    assert (mine["calls"], mine["abandoned_queue"], mine["short_abandons"]) == (2, 2, 1)
    assert mine["abandon_rate"] == 1.0  # one long abandon of one non-short queued call
    everything = api.get(url, headers=tenant_a.headers, params={"short_abandon_s": 60}).json()
    assert (everything["calls"], everything["short_abandons"]) == (3, 3)
    assert everything["abandon_rate"] is None  # every queued call abandoned short
    assert api.get(url, headers=agent, params={"short_abandon_s": -1}).status_code == 422


def test_a_callback_the_agent_answered_first_bridges_when_the_customer_answers(
    platform: Platform, tenant_a: Tenant, clock: Clock
) -> None:
    org = tenant_a.org_id
    agent = make_user(platform, org, "cb-agent", Role.AGENT, [tenant_a.team_id])
    with platform.uow() as uow:
        view = calls.open_call(
            uow, org, direction=CallDirection.OUTBOUND, caller="4008001234",
            dialled="+8613812345678", agent_user_id=agent.user_id,
        )  # fmt: skip
        call_id, customer = view.call.id, view.customer_leg.id
        leg = calls.add_leg(uow, org, call_id, kind=LegKind.AGENT, party="p", user_id=agent.user_id)
        # The agent's phone answers first; the customer is still ringing.
        calls.answered_by_agent(uow, org, call_id, agent_user_id=agent.user_id, agent_leg_id=leg.id)
        assert calls.get_call(uow, org, call_id).customer_leg.state == "ringing"
    clock.advance(8)
    with platform.uow() as uow:
        calls.leg_event(uow, org, call_id, customer, LegTrigger.ANSWER)
        assert calls.get_call(uow, org, call_id).customer_leg.state == "bridged"
    clock.advance(40)
    with platform.uow() as uow:
        calls.end_leg(uow, org, call_id, customer, EndCause.CUSTOMER_HANGUP)
    with platform.uow() as uow:
        row = uow.session.get(VoiceCdrRow, call_id)
        assert row is not None and row.direction == "outbound"
        assert row.talk_s == 40.0 and row.answered_at == T0 + timedelta(seconds=8)
        assert not row.abandoned  # an answered outbound call hung up is no abandon
