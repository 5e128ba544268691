"""The screens stay consistent by construction: a stale snapshot S0 plus the events the
real stream delivers after it, applied by the browser's own reducer (node), equals a
fresh snapshot S1, compared as JSON, on SQLite and PostgreSQL. The stream is dropped
half way and resumed after the last applied seq: nothing is lost or applied twice."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from jietong.app.asgi import create_app
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from tests.conftest import Tenant, issue_all_scopes, make_tenant
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
    say,
    sentinel,
    snapshot,
)


def bearer_of(platform: Platform, actor: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_all_scopes(platform, actor)}"}


def first_half(client: TestClient, w: World) -> dict[str, str]:
    """Work in every state: answered, abandoned, waiting, with messages and notes."""
    agent, admin = w.agent_headers, w.admin_headers
    ids = {name: new_interaction(client, w, w.queue_id, name) for name in ("a", "b", "c")}
    ids["elsewhere"] = new_interaction(client, w, w.other_queue_id, "other team")
    for interaction_id in ids.values():
        enqueue(client, admin, interaction_id)
    say(client, admin, ids["a"], "你好, I need help", direction="inbound")
    move(client, admin, ids["a"], "offer", w.agent.user_id)
    move(client, agent, ids["a"], "decline")
    move(client, admin, ids["a"], "offer", w.agent.user_id)
    move(client, agent, ids["a"], "accept")
    say(client, agent, ids["a"], "Hello! Looking into it.")
    say(client, agent, ids["a"], "note: VIP", internal=True)
    move(client, admin, ids["b"], "abandon")
    move(client, admin, ids["elsewhere"], "offer", w.outsider.user_id)
    return ids


def second_half(client: TestClient, w: World, ids: dict[str, str]) -> None:
    """What happens while the client is disconnected, and after it is back."""
    agent, admin = w.agent_headers, w.admin_headers
    say(client, admin, ids["a"], "still there?", direction="inbound")
    move(client, admin, ids["c"], "offer", w.colleague.user_id)
    move(client, admin, ids["c"], "accept")
    move(client, admin, ids["c"], "transfer")
    ids["d"] = new_interaction(client, w, w.queue_id, "late arrival")
    enqueue(client, admin, ids["d"])
    move(client, agent, ids["a"], "end")
    move(client, agent, ids["a"], "close")
    say(client, admin, ids["d"], "hello?", direction="inbound")


def drop_and_resume(
    client: TestClient,
    w: World,
    headers: dict[str, str],
    view: str,
    s0: dict[str, Any],
    ids: dict[str, str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events after S0, read in two connections with changes made in between, up to a
    moment after the fresh snapshot S1 was taken; and S1."""
    after = s0["state"]["as_of"]
    with client.websocket_connect(f"{API}/stream?after={after}", headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        sentinel(client, w, "half")
        before_drop = read_until_customer(ws, "half")
    last = before_drop[-1]["seq"]
    second_half(client, w, ids)
    with client.websocket_connect(f"{API}/stream?after={last}", headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        s1 = snapshot(client, headers, view)
        sentinel(client, w, "after S1")
        after_drop = read_until_customer(ws, "after S1")
    return before_drop + after_drop, s1


def up_to(events: list[dict[str, Any]], s1: dict[str, Any]) -> list[dict[str, Any]]:
    """The events S1 reflects: published by its as_of, or listed in its skip."""
    skip = set(s1["state"]["skip"])
    return [e for e in events if e["seq"] <= s1["state"]["as_of"] or e["event_id"] in skip]


def check(client: TestClient, w: World, headers: dict[str, str], view: str) -> dict[str, Any]:
    ids = first_half(client, w)
    s0 = snapshot(client, headers, view)
    everything, s1 = drop_and_resume(client, w, headers, view, s0, ids)
    events = up_to(everything, s1)
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(set(seqs)), "no event twice, in order"
    assert seqs[0] > s0["state"]["as_of"]
    reduced = js_reduce(s0["state"], events)
    assert not reduced["stale"]
    assert reduced["state"] == comparable(s1["state"])
    assert comparable(s0["state"]) != comparable(s1["state"]), "the test changed something"
    return {"s0": s0, "s1": s1, "events": events, "ids": ids}


def test_wallboard_snapshot_plus_events_equals_fresh_snapshot(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    seen = check(client, w, w.supervisor_headers, "wallboard")
    figures = seen["s1"]["state"]["kpi"][w.queue_id]
    offered, answered, _in_sl, abandoned, _wait = (
        sum(v[i] for v in figures.values()) for i in range(5)
    )
    assert (offered, answered, abandoned) == (4, 2, 1)  # a, c answered; b abandoned; d waits
    assert w.other_queue_id in seen["s1"]["state"]["kpi"], "the supervisor sees every team"


def test_agent_desk_snapshot_plus_events_equals_fresh_snapshot(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)

    seen = check(client, w, w.agent_headers, "desk")
    s1, ids = seen["s1"]["state"], seen["ids"]
    assert s1["kpi"] is None
    assert set(s1["work"]) == {ids["c"], ids["d"]}, "open work of my team only"
    assert ids["elsewhere"] not in {e["payload"].get("interaction_id") for e in seen["events"]}
    assert s1["work"][ids["d"]]["inbound"] == 1
    cards = client.get(
        f"{API}/desktop/interaction-cards",
        headers=w.agent_headers,
        params={"ids": [ids["d"], ids["c"]]},
    ).json()
    waiting = {c["id"]: c["awaiting_since"] for c in cards}
    assert waiting[ids["d"]] is not None, "the customer wrote and nobody answered yet"
    assert waiting[ids["c"]] is None


def wait_for_offer(client: TestClient, headers: dict[str, str], seconds: float = 15) -> str:
    """The id of the caller's pending offer, once the routing engine made one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        offers = client.get(f"{API}/offers", headers=headers).json()
        pending = [o for o in offers if o["state"] == "pending"]
        if pending:
            offer_id: str = pending[0]["id"]
            return offer_id
        time.sleep(0.1)
    presence = client.get(f"{API}/agents/presence", headers=headers).text
    raise AssertionError(f"no offer came; presence: {presence}")


def present(
    client: TestClient, headers: dict[str, str], state: str, reason: str | None = None
) -> None:
    done = client.put(
        f"{API}/agents/me/presence", headers=headers, json={"state": state, "reason": reason}
    )
    assert done.status_code == 200, done.text


def test_routing_presence_and_offers_stay_consistent_too(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    """The engine offers work to agents who went available; they accept or decline; a
    supervisor moves waiting work. Both screens still equal a fresh snapshot."""
    w = make_world(platform, tenant_a)
    agent, mate, sup = w.agent_headers, bearer_of(platform, w.colleague), w.supervisor_headers
    present(client, agent, "available")
    boards = {
        "wallboard": (sup, snapshot(client, sup, "wallboard")),
        "desk": (agent, snapshot(client, agent, "desk")),
    }
    with (
        client.websocket_connect(
            f"{API}/stream?after={boards['wallboard'][1]['state']['as_of']}", headers=sup
        ) as ws_sup,
        client.websocket_connect(
            f"{API}/stream?after={boards['desk'][1]['state']['as_of']}", headers=agent
        ) as ws_agent,
    ):
        assert ws_sup.receive_json()["type"] == ws_agent.receive_json()["type"] == "hello"
        first = new_interaction(client, w, w.queue_id, "first")
        say(client, w.admin_headers, first, "hello", direction="inbound")  # routed once written
        offer = wait_for_offer(client, agent)
        assert client.post(f"{API}/offers/{offer}/accept", headers=agent).status_code == 200
        present(client, agent, "not_ready", "meeting")  # the next one goes to the colleague
        present(client, mate, "available")
        second = new_interaction(client, w, w.queue_id, "second")
        say(client, w.admin_headers, second, "anyone?", direction="inbound")
        declined = wait_for_offer(client, mate)
        assert client.post(f"{API}/offers/{declined}/decline", headers=mate).status_code == 200
        present(client, mate, "offline")
        moved = client.post(
            f"{API}/routing/interactions/{second}/move",
            headers=sup,
            json={"queue_id": w.other_queue_id},
        )
        assert moved.status_code == 200, moved.text
        say(client, agent, first, "on it")
        s1 = {view: snapshot(client, headers, view) for view, (headers, _s0) in boards.items()}
        sentinel(client, w, "routing done")
        heard = {
            "wallboard": read_until_customer(ws_sup, "routing done"),
            "desk": read_until_customer(ws_agent, "routing done"),
        }
    for view, (_headers, s0) in boards.items():
        reduced = js_reduce(s0["state"], up_to(heard[view], s1[view]))
        assert not reduced["stale"]
        assert reduced["state"] == comparable(s1[view]["state"]), view
    wall = s1["wallboard"]["state"]
    assert wall["agents"][w.agent.user_id]["state"] == "not_ready"
    assert wall["agents"][w.agent.user_id]["reason"] == "meeting"
    assert w.colleague.user_id not in wall["agents"], "offline agents are not listed"
    assert wall["work"][second]["routed_queue_id"] == w.other_queue_id
    assert wall["work"][first]["assigned_user_id"] == w.agent.user_id
    assert s1["desk"]["state"]["agents"].keys() == {w.agent.user_id}, (
        "an agent hears only their own state"
    )


def test_events_committed_but_not_yet_published_are_applied_once(
    db_url: str, tmp_path: Any
) -> None:
    """A snapshot taken while the relay lags lists the events it already reflects in
    `skip`; the reducer ignores them when they arrive, instead of counting twice."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret",
        outbox_relay_enabled=False,  # this test publishes by hand
    )
    platform = build_platform(settings)
    platform.routing = None  # no engine: nothing moves but what the test does
    try:
        with TestClient(create_app(platform)) as client:
            tenant = make_tenant(platform, "lag")
            w = make_world(platform, tenant)
            platform.relay.relay_all()
            first = new_interaction(client, w, w.queue_id, "lagging")
            say(client, w.admin_headers, first, "hi", direction="inbound")
            s0 = snapshot(client, w.supervisor_headers, "wallboard")
            assert len(s0["state"]["skip"]) >= 2, "created and message events await the relay"
            assert s0["state"]["work"][first]["inbound"] == 1
            say(client, w.admin_headers, first, "hello?", direction="inbound")
            sentinel(client, w, "published")
            platform.relay.relay_all()
            after = s0["state"]["as_of"]
            with client.websocket_connect(
                f"{API}/stream?after={after}", headers=w.supervisor_headers
            ) as ws:
                ws.receive_json()
                events = read_until_customer(ws, "published")
            s1 = snapshot(client, w.supervisor_headers, "wallboard")
    finally:
        platform.close()
    reduced = js_reduce(s0["state"], events)
    assert reduced["state"] == comparable(s1["state"])
    assert reduced["skip"] == []
    assert s1["state"]["work"][first]["inbound"] == 2
    naive = js_reduce({**s0["state"], "skip": []}, events)
    assert naive["state"]["work"][first]["inbound"] == 3, "without skip the first would count twice"
