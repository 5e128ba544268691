"""The screens stay consistent by construction: a stale snapshot S0 plus the events the
real stream delivers after it, applied by the browser's own reducer (node), equals a
fresh snapshot S1, compared as JSON, on SQLite and PostgreSQL. The stream is dropped
half way and resumed after the last applied seq: nothing is lost or applied twice."""

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
    say,
    sentinel,
    snapshot,
)


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
    assert s1["work"][ids["d"]]["awaiting_us"] is not None
