"""Work that changes hands reaches the agent it leaves: the audience of the event about a
transfer, a decline or a reassignment includes the previous assignee, so the desk of an
agent of another team drops the row at once (their stale snapshot plus the events they
hear, applied by the browser's reducer, equals their fresh snapshot)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from tests.conftest import Tenant
from tests.integration.desktop.helpers import (
    API,
    World,
    comparable,
    enqueue,
    js_reduce,
    make_world,
    move,
    new_interaction,
    read_until_customer,
    sentinel,
    snapshot,
)


def held_by_outsider(client: TestClient, w: World, subject: str, *, accept: bool) -> str:
    """Work of the front-line team offered to (and maybe accepted by) the other team's agent."""
    interaction_id = new_interaction(client, w, w.queue_id, subject)
    enqueue(client, w.admin_headers, interaction_id)
    move(client, w.admin_headers, interaction_id, "offer", w.outsider.user_id)
    if accept:
        move(client, w.outsider_headers, interaction_id, "accept")
    return interaction_id


def heard_after(
    client: TestClient, w: World, s0: dict[str, Any], act: Any, name: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with client.websocket_connect(
        f"{API}/stream?after={s0['state']['as_of']}", headers=w.outsider_headers
    ) as ws:
        assert ws.receive_json()["type"] == "hello"
        act()
        s1 = snapshot(client, w.outsider_headers, "desk")
        sentinel(client, w, name)
        events = read_until_customer(ws, name)
    return events, s1


def acted_on(s0: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events the desk acts on after S0: those S0 already reflects but the relay had
    not yet published arrive on the stream too, listed in S0's `skip`, and are ignored."""
    skip = set(s0["state"]["skip"])
    return [e for e in events if e["event_id"] not in skip]


def test_a_transfer_reaches_the_agent_it_leaves(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a, "h1")
    interaction_id = held_by_outsider(client, w, "handed over", accept=True)
    s0 = snapshot(client, w.outsider_headers, "desk")
    assert s0["state"]["work"][interaction_id]["assigned_user_id"] == w.outsider.user_id

    def hand_over() -> None:
        move(client, w.outsider_headers, interaction_id, "transfer")

    events, s1 = heard_after(client, w, s0, hand_over, "after transfer")
    moves = [
        e["payload"]
        for e in acted_on(s0, events)
        if e["event_type"] == "InteractionStateChanged"
        and e["payload"]["interaction_id"] == interaction_id
    ]
    assert [m["trigger"] for m in moves] == ["transfer"], "told once, about leaving"
    assert interaction_id not in s1["state"]["work"], "no longer theirs to see"
    reduced = js_reduce(s0["state"], events)
    assert not reduced["stale"]
    assert reduced["state"] == comparable(s1["state"])
    # Once gone, later moves of that work stay with its team.
    move(client, w.admin_headers, interaction_id, "offer", w.colleague.user_id)
    with client.websocket_connect(
        f"{API}/stream?after={events[-1]['seq']}", headers=w.outsider_headers
    ) as ws:
        assert ws.receive_json()["type"] == "hello"
        sentinel(client, w, "quiet")
        after = read_until_customer(ws, "quiet")
    assert all(e["payload"].get("interaction_id") != interaction_id for e in after)


def test_a_declined_offer_and_a_reassignment_reach_the_agent_they_leave(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a, "h2")
    declined = held_by_outsider(client, w, "declined", accept=False)
    reassigned = held_by_outsider(client, w, "reassigned", accept=True)
    s0 = snapshot(client, w.outsider_headers, "desk")
    assert {declined, reassigned} <= set(s0["state"]["work"])

    def hand_back() -> None:
        move(client, w.outsider_headers, declined, "decline")
        move(client, w.admin_headers, reassigned, "transfer")
        move(client, w.admin_headers, reassigned, "offer", w.colleague.user_id)

    events, s1 = heard_after(client, w, s0, hand_back, "after reassignment")
    assert not {declined, reassigned} & set(s1["state"]["work"])
    reduced = js_reduce(s0["state"], events)
    assert not reduced["stale"]
    assert reduced["state"] == comparable(s1["state"])
    # The colleague's offer is not the outsider's business: only the hand-back reached them.
    offered_again = [
        e
        for e in acted_on(s0, events)
        if e["event_type"] == "InteractionStateChanged"
        and e["payload"]["interaction_id"] == reassigned
        and e["payload"]["to_state"] == "offered"
    ]
    assert offered_again == []
