"""Benchmark: routing decisions per second at contact-center scale, and end to end.

Run:  .venv/bin/python bench/routing.py                     (in-process, ~1 min)
      .venv/bin/python bench/routing.py --persistence sqlite  (end to end, real database)
      .venv/bin/python bench/routing.py --persistence postgresql+psycopg://user:pw@host/db

In-process. 10,000 agents, 200 skills (5-15 per agent, drawn with Zipf-like popularity,
levels 1-10), half of the agents on calls (capacity 1) and half on chats (capacity 3);
600 queues requiring one or two skills at a minimum level, 10% of them routed by best
proficiency, the rest by longest idle; contacts carry a priority (VIP tiers 0-3) with
aging. Steady state near full occupancy with a backlog: every agent slot is busy, 20
contacts wait per queue; at each step a random busy slot frees (the agent finishes a
contact), the engine decides, and a new contact arrives in the queue that was served.

Two contenders process the same event stream in the same process:

* Jietong: `routing.matcher.Matcher`, the engine's decision core, with the full policy
  (priority + aging order across queues, per-queue policy, per-channel capacity and
  blending, exclusions) and decisions identical to `policies.match`;
* bare: a minimal matcher as a floor: first come first served per queue, longest-idle
  agent holding all required skills, per-queue FIFO lists and per-queue heaps of idle
  agents, nothing else.

Times cover the whole handling of each event (the release of the slot, the decision,
the new arrival). End to end (``--persistence``): agents log in through the presence
service, contacts arrive through the interactions service and the engine runs its cycles
as the server does; we count contacts offered per second and the time from a contact
being queued to its offer being committed (the event the agent's desktop receives).

The last line is machine-readable:
RESULT routing decisions_per_s=... bare_decisions_per_s=... ratio=... p50_us=... p99_us=...
bare_p99_us=...
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import time
from collections import deque
from dataclasses import dataclass

from jietong.routing.matcher import Matcher
from jietong.routing.policies import AgentPolicy, AgentView, WorkItem

N_AGENTS = 10_000
N_SKILLS = 200
N_QUEUES = 600
BACKLOG_PER_QUEUE = 20


@dataclass(frozen=True)
class Queue:
    queue_id: str
    channel: str
    required: dict[str, int]
    policy: AgentPolicy


@dataclass(frozen=True)
class World:
    agents: list[AgentView]
    queues: list[Queue]
    qualified: dict[str, list[int]]  # agent id -> indexes of queues it qualifies for


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def build_world(rng: random.Random) -> World:
    skills = [f"s{i:03d}" for i in range(N_SKILLS)]
    weights = zipf_weights(N_SKILLS)
    agents = []
    for i in range(N_AGENTS):
        count = rng.randint(5, 15)
        chosen: set[str] = set()
        while len(chosen) < count:
            chosen.add(rng.choices(skills, weights)[0])
        channel, capacity = ("call", 1) if i % 2 == 0 else ("chat", 3)
        agents.append(
            AgentView(
                agent_id=f"a{i:05d}",
                skills={s: rng.randint(1, 10) for s in sorted(chosen)},
                idle_since=0.0,
                capacity={channel: capacity},
                load={channel: capacity},  # steady state: every slot busy
            )
        )
    queues = []
    for q in range(N_QUEUES):
        needed = rng.sample(skills[:60], 1) if q % 3 else rng.sample(skills[:40], 2)
        policy = AgentPolicy.BEST_PROFICIENCY if q % 10 == 0 else AgentPolicy.LONGEST_IDLE
        queues.append(
            Queue(
                f"q{q:03d}",
                "call" if q % 2 == 0 else "chat",
                {s: rng.randint(1, 5) for s in needed},
                policy,
            )
        )
    qualified = {
        a.agent_id: [
            i
            for i, q in enumerate(queues)
            if q.channel in a.capacity
            and all(a.skills.get(s, 0) >= lvl for s, lvl in q.required.items())
        ]
        for a in agents
    }
    return World(agents, queues, qualified)


class Bare:
    """The floor: FIFO per queue, longest-idle qualified agent, slot counts only."""

    def __init__(self, world: World) -> None:
        self.queues = world.queues
        self.qualified = world.qualified
        self.free = {a.agent_id: 0 for a in world.agents}
        self.idle_since = {a.agent_id: 0.0 for a in world.agents}
        self.version = dict.fromkeys(self.free, 0)
        self.waiting: list[deque[str]] = [deque() for _ in world.queues]
        self.idle: list[list[tuple[float, str, int, str]]] = [[] for _ in world.queues]

    def arrive(self, q: int, item_id: str, now: float) -> str | None:
        heap = self.idle[q]
        while heap:
            _, _, version, agent = heap[0]
            if version == self.version[agent] and self.free[agent] > 0:
                self._take(agent, now)
                return agent
            heapq.heappop(heap)
        self.waiting[q].append(item_id)
        return None

    def release(self, agent: str, now: float) -> str | None:
        """The agent frees a slot and takes the oldest head among its queues."""
        self.free[agent] += 1
        self.idle_since[agent] = now
        self.version[agent] += 1
        best_q = -1
        best_item = ""
        for q in self.qualified[agent]:
            queue = self.waiting[q]
            if queue and (best_q < 0 or queue[0] < best_item):
                best_q, best_item = q, queue[0]
        if best_q >= 0:
            self.waiting[best_q].popleft()
            self._take(agent, now)
            return best_item
        for q in self.qualified[agent]:
            heapq.heappush(self.idle[q], (now, agent, self.version[agent], agent))
        return None

    def _take(self, agent: str, now: float) -> None:
        self.free[agent] -= 1
        self.idle_since[agent] = now
        self.version[agent] += 1


def item_for(rng: random.Random, queue: Queue, n: int, now: float) -> WorkItem:
    return WorkItem(
        item_id=f"c{n:09d}",  # sortable: the bare matcher's FIFO order
        queue_id=queue.queue_id,
        channel=queue.channel,
        required_skills=queue.required,
        priority=rng.choice((0, 0, 0, 0, 1, 2, 3)),
        arrived_at=now,
    )


@dataclass
class Timing:
    decisions: int = 0
    seconds: float = 0.0
    latencies_ns: list[int] | None = None


def run_both(world: World, steps: int, seed: int, freeze: bool) -> tuple[Timing, Timing]:
    """The same event stream through both; returns (jietong, bare)."""
    rng = random.Random(seed)
    matcher = Matcher(policies={q.queue_id: q.policy for q in world.queues})
    bare = Bare(world)
    for agent in world.agents:
        matcher.put_agent(agent)
    queue_index = {q.queue_id: i for i, q in enumerate(world.queues)}
    item_queue: dict[str, int] = {}
    n, now = 0, 1.0
    for i, queue in enumerate(world.queues):
        for _ in range(BACKLOG_PER_QUEUE):
            item = item_for(rng, queue, n, now - 600 + n * 1e-4)
            n += 1
            matcher.put_item(item)
            bare.waiting[i].append(item.item_id)
            item_queue[item.item_id] = i
    assert matcher.decide(now) == []
    if freeze:
        # The world and both contenders' state are long-lived: out of the collector's
        # full passes, which otherwise rescan them at times set by whoever allocates.
        gc.collect()
        gc.freeze()
    ids = [a.agent_id for a in world.agents]
    channels = {a.agent_id: next(iter(a.capacity)) for a in world.agents}
    ours, floor = Timing(latencies_ns=[]), Timing(latencies_ns=[])
    for _ in range(steps):
        now += 0.01
        agent_id = rng.choice(ids)
        # Jietong: release the slot, decide, the served queue receives a new contact.
        t0 = time.perf_counter_ns()
        matcher.release(agent_id, channels[agent_id], now)
        decided = matcher.decide(now)
        t1 = time.perf_counter_ns()
        arrivals = []
        for assignment in decided:
            q = item_queue.pop(assignment.item_id)
            arrivals.append(q)
        new_items = []
        for q in arrivals:
            item = item_for(rng, world.queues[q], n, now)
            n += 1
            new_items.append(item)
            item_queue[item.item_id] = q
        t2 = time.perf_counter_ns()
        for item in new_items:
            matcher.put_item(item)
        extra = matcher.decide(now) if new_items else []
        t3 = time.perf_counter_ns()
        for assignment in extra:
            item_queue.pop(assignment.item_id, None)
        ours.latencies_ns.append(t1 - t0)  # type: ignore[union-attr]
        ours.decisions += len(decided) + len(extra)
        ours.seconds += (t1 - t0 + t3 - t2) / 1e9
        # Bare: the same event.
        b0 = time.perf_counter_ns()
        taken = bare.release(agent_id, now)
        b1 = time.perf_counter_ns()
        for item in new_items:
            bare.arrive(queue_index[item.queue_id], item.item_id, now)
        b2 = time.perf_counter_ns()
        floor.latencies_ns.append(b1 - b0)  # type: ignore[union-attr]
        floor.decisions += taken is not None
        floor.seconds += (b2 - b0) / 1e9
    return ours, floor


def percentile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000.0


def in_process(steps: int, seed: int, freeze: bool) -> None:
    rng = random.Random(seed)
    began = time.perf_counter()
    world = build_world(rng)
    served = sum(1 for qs in world.qualified.values() if qs)
    print(
        f"{N_AGENTS:,} agents ({served:,} qualified for some queue), {N_SKILLS} skills, "
        f"{N_QUEUES} queues, backlog {N_QUEUES * BACKLOG_PER_QUEUE:,}; "
        f"built in {time.perf_counter() - began:.1f} s"
    )
    ours, floor = run_both(world, steps, seed, freeze)
    rows = [("jietong (full policy)", ours), ("bare matcher", floor)]
    print(f"{'contender':<24}{'decisions':>10}{'decisions/s':>14}{'p50 us':>9}{'p99 us':>9}")
    for name, t in rows:
        lat = t.latencies_ns or [0]
        print(
            f"{name:<24}{t.decisions:>10,}{t.decisions / t.seconds:>14,.0f}"
            f"{percentile(lat, 50):>9.1f}{percentile(lat, 99):>9.1f}"
        )
    ratio = (ours.decisions / ours.seconds) / (floor.decisions / floor.seconds)
    print(f"jietong / bare = {ratio:.2f}")
    print(
        f"RESULT routing decisions_per_s={ours.decisions / ours.seconds:.0f} "
        f"bare_decisions_per_s={floor.decisions / floor.seconds:.0f} ratio={ratio:.2f} "
        f"p50_us={percentile(ours.latencies_ns or [0], 50):.1f} "
        f"p99_us={percentile(ours.latencies_ns or [0], 99):.1f} "
        f"bare_p99_us={percentile(floor.latencies_ns or [0], 99):.1f} freeze={int(freeze)}"
    )


# --- end to end, on a real database ------------------------------------------------------


def end_to_end(database: str, contacts: int, agents: int, burst: int = 10) -> None:
    """Contacts arrive one after another through the interactions service while agents
    answer, finish and take the next one; the engine runs its cycles as in the server.
    Counts offers committed per second and the time from queueing to the offer."""
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from sqlalchemy import select

    from jietong.agents.model import AgentState
    from jietong.app.platform import build_platform
    from jietong.app.settings import Settings
    from jietong.core.ids import new_id
    from jietong.core.tenancy import Actor, Role, system_actor
    from jietong.interactions import service as interactions
    from jietong.interactions.model import Channel
    from jietong.interactions.schemas import InteractionCreate
    from jietong.org import service as org_service
    from jietong.org.schemas import QueueCreate
    from jietong.routing import offers, presence
    from jietong.routing.engine import run_cycle
    from jietong.storage.migrate import upgrade
    from jietong.storage.tables import OrganisationRow, UserRow
    from jietong.storage.tables_routing import RoutingOfferRow
    from jietong.storage.uow import UnitOfWork

    folder = Path(tempfile.mkdtemp(prefix="jt-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}" if database == "sqlite" else database
    platform = build_platform(
        Settings(data_dir=folder, database_url=url, outbox_relay_enabled=False)
    )
    upgrade(platform.engine)
    t0 = datetime.now(UTC)
    clock = {"now": t0}

    def uow(at: datetime | None = None) -> UnitOfWork:
        return UnitOfWork(platform.sessions, at or clock["now"])

    org_id = new_id()
    with uow() as u:
        u.session.add(OrganisationRow(id=org_id, slug=f"b{org_id[-10:]}", name="B", created_at=t0))
        u.session.commit()
    system = system_actor(org_id)
    with uow() as u:
        queue = org_service.create_queue(u, system, QueueCreate(name="q", channels=["call"]))
    actors = []
    with uow() as u:
        for i in range(agents):
            uid = new_id()
            u.session.add(
                UserRow(
                    id=uid,
                    org_id=org_id,
                    username=f"bench-{uid}",
                    display_name=f"agent {i}",
                    role="agent",
                    active=True,
                    created_at=t0,
                    updated_at=t0,
                )
            )
            actors.append(Actor(org_id, uid, Role.AGENT))
        u.session.commit()
    for actor in actors:
        with uow() as u:
            presence.set_presence(
                u, actor, actor.user_id, AgentState.AVAILABLE, reason=None, now=t0
            )

    from sqlalchemy import event

    commits = [0]
    offer_commits = [0]

    def counted(_conn: object) -> None:
        commits[0] += 1

    event.listen(platform.engine, "commit", counted)
    latencies: list[float] = []
    queued_at: dict[str, float] = {}
    routed = 0
    by_id = {a.user_id: a for a in actors}
    busy: list[tuple[Actor, str]] = []
    started = time.perf_counter()
    for n in range(0, contacts, burst):
        clock["now"] = t0 + timedelta(seconds=n)
        for _ in range(min(burst, contacts - n)):
            with uow() as u:
                iid = interactions.create_interaction(
                    u, system, InteractionCreate(channel=Channel.CALL, queue_id=queue.id)
                ).interaction.id
            with uow() as u:
                interactions.transition_interaction(u, system, iid, "enqueue")
            queued_at[iid] = time.perf_counter()
        before = commits[0]
        run_cycle(uow, org_id, now=clock["now"])
        offer_commits[0] += commits[0] - before
        with uow() as u:
            pending = u.session.scalars(
                select(RoutingOfferRow).where(
                    RoutingOfferRow.org_id == org_id, RoutingOfferRow.state == "pending"
                )
            ).all()
        for offer in pending:
            latencies.append(time.perf_counter() - queued_at.pop(offer.interaction_id))
            actor = by_id[offer.agent_id]
            with uow() as u:
                offers.accept_offer(u, actor, offer.id, now=clock["now"])
            busy.append((actor, offer.interaction_id))
            routed += 1
        # A quarter of the busy agents finish (end and close): steady state.
        for actor, done in busy[: max(len(busy) // 4, 1)]:
            for trigger in ("end", "close"):
                with uow() as u:
                    interactions.transition_interaction(u, actor, done, trigger)
        busy = busy[max(len(busy) // 4, 1) :]
    seconds = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    backend = platform.engine.dialect.name
    print(
        f"end to end on {backend}: {contacts} contacts, {agents} agents, {routed} offered in "
        f"{seconds:.1f} s = {routed / seconds:.0f} contacts routed/s (each: created, queued, "
        f"offered by an engine cycle per {burst} arrivals, accepted, ended, closed); "
        f"queued -> offer committed p50 {p50:.1f} ms, p99 {p99:.1f} ms; {commits[0]} commits "
        f"({commits[0] / max(routed, 1):.1f} per contact; engine cycles "
        f"{offer_commits[0] / max(routed, 1):.1f} per contact)"
    )
    print(
        f"RESULT routing_e2e backend={backend} routed_per_s={routed / seconds:.0f} "
        f"p50_ms={p50:.1f} p99_ms={p99:.1f} commits_per_contact={commits[0] / max(routed, 1):.1f}"
    )
    platform.close()


# --- end to end through a real server, to the agent's websocket ---------------------------


def through_server(database: str, contacts: int, agents: int, rate: float) -> None:
    """A real `jietong serve` process (its routing engine, outbox relay and event
    stream), agents on `/api/v1/stream` with their tokens, contacts created and queued
    over HTTP at ``rate`` per second (open loop). Each agent answers its offer, ends and
    closes the contact over HTTP, as a desktop would. Measures contacts routed per second
    and arrival (the create request sent; the engine queues a call naming a queue) ->
    OfferCreated received on the assigned agent's websocket."""
    import asyncio
    import contextlib
    import json
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import httpx
    import websockets

    from jietong.app.platform import build_platform
    from jietong.app.settings import Settings
    from jietong.auth import service as auth_service
    from jietong.core.permissions import ROLE_PERMISSIONS
    from jietong.core.tenancy import Actor, Role, system_actor
    from jietong.org import service as org_service
    from jietong.org.schemas import QueueCreate, TeamCreate, UserCreate
    from jietong.storage.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="jt-bench-stream-"))
    url = f"sqlite:///{folder / 'bench.db'}" if database == "sqlite" else database
    platform = build_platform(Settings(data_dir=folder, database_url=url, secret_key="bench"))
    upgrade(platform.engine)
    with platform.uow() as u:
        org = org_service.create_organisation(u, slug=f"rb{os.getpid()}", name="Bench")
    system = system_actor(org.id)
    with platform.uow() as u:
        team = org_service.create_team(u, system, TeamCreate(name="Front line"))
    with platform.uow() as u:
        queue = org_service.create_queue(
            u, system, QueueCreate(name="Calls", channels=["call"], team_id=team.id)
        )

    def token_for(username: str, role: Role) -> tuple[str, str]:
        with platform.uow() as u:
            user = org_service.create_user(
                u,
                system,
                UserCreate(
                    username=username,
                    display_name=username,
                    password="bench-routing-2026",
                    role=role,
                    team_ids=[team.id],
                ),
            )
        actor = Actor(org.id, user.user.id, role, frozenset({team.id}))
        with platform.uow() as u:
            issued = auth_service.issue_token(
                u,
                actor,
                name="bench",
                scopes=[p.value for p in ROLE_PERMISSIONS[role]],
                expires_at=None,
            )
        return user.user.id, issued.token

    tag = os.getpid()  # user names are unique across organisations: a reused database
    _, supervisor = token_for(f"supervisor-{tag}", Role.SUPERVISOR)
    agent_tokens = dict(token_for(f"agent{i:03d}-{tag}", Role.AGENT) for i in range(agents))
    platform.close()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIETONG_")}
    env.update(
        JIETONG_DATA_DIR=str(folder),
        JIETONG_DATABASE_URL=url,
        JIETONG_SECRET_KEY="bench",
        JIETONG_LOG_LEVEL="WARNING",
        JIETONG_SMTP_ENABLED="false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "jietong.app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    queued_at: dict[str, float] = {}
    latencies: list[float] = []
    offered_early: dict[str, float] = {}
    done = 0
    all_done = asyncio.Event()

    async def agent(client: httpx.AsyncClient, user_id: str, token: str) -> None:
        nonlocal done
        headers = {"Authorization": f"Bearer {token}"}
        ws_url = base.replace("http://", "ws://") + "/api/v1/stream?after=0"
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            await ws.recv()  # hello
            put = await client.put(
                "/api/v1/agents/me/presence", json={"state": "available"}, headers=headers
            )
            put.raise_for_status()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event_type") != "OfferCreated":
                    continue
                payload = message["payload"]
                if payload["agent_id"] != user_id:
                    continue
                iid = payload["interaction_id"]
                seen = time.perf_counter()
                if iid in queued_at:
                    latencies.append(seen - queued_at[iid])
                else:  # offered before the create response came back: arrive() counts it
                    offered_early[iid] = seen
                accepted = await client.post(
                    f"/api/v1/offers/{payload['offer_id']}/accept", headers=headers
                )
                accepted.raise_for_status()
                for trigger in ("end", "close"):
                    moved = await client.post(
                        f"/api/v1/interactions/{iid}/transitions",
                        json={"trigger": trigger},
                        headers=headers,
                    )
                    moved.raise_for_status()
                done += 1
                if done >= contacts:
                    all_done.set()

    async def arrive(client: httpx.AsyncClient) -> None:
        # A call naming a queue: the engine queues it itself (as for a call from the
        # IVR), so the clock starts at its arrival, before it is queued.
        headers = {"Authorization": f"Bearer {supervisor}"}
        began = time.perf_counter()
        created = await client.post(
            "/api/v1/interactions",
            json={"channel": "call", "queue_id": queue.id},
            headers=headers,
        )
        created.raise_for_status()
        iid = created.json()["id"]
        queued_at[iid] = began
        if iid in offered_early:
            latencies.append(offered_early.pop(iid) - began)

    async def run() -> float:
        limits = httpx.Limits(max_connections=agents + 20)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            tasks = [asyncio.create_task(agent(client, u, t)) for u, t in agent_tokens.items()]
            await asyncio.sleep(3)  # everyone connected and available
            started = time.perf_counter()
            arrivals = []
            for n in range(contacts):
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                arrivals.append(asyncio.create_task(arrive(client)))
            await asyncio.gather(*arrivals)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done.wait(), timeout=120)
            seconds = time.perf_counter() - started
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return seconds

    try:
        _wait_healthy(proc, port)
        seconds = asyncio.run(run())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    backend = "sqlite" if database == "sqlite" else "postgresql"
    print(
        f"through the server on {backend}: {contacts} contacts at {rate:.0f}/s offered, "
        f"{agents} agents on websockets; {done} routed, accepted, ended and closed in "
        f"{seconds:.1f} s ({done / seconds:.1f}/s); arrival -> OfferCreated on the agent's "
        f"websocket p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"RESULT routing_stream backend={backend} routed_per_s={done / seconds:.1f} "
        f"offered_per_s={rate:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f} routed={done}"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: object, port: int) -> None:
    import subprocess

    import httpx

    assert isinstance(proc, subprocess.Popen)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"the server exited: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start within 90 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--persistence", default=None, help="sqlite, or a database URL")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument(
        "--stream", action="store_true", help="with --persistence: through a real server"
    )
    parser.add_argument(
        "--freeze", action="store_true", help="gc.freeze() the world before measuring"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="arrivals/s for --stream")
    args = parser.parse_args()
    if args.persistence and args.stream:
        through_server(args.persistence, args.contacts, args.agents, args.rate)
        return
    if args.persistence:
        end_to_end(args.persistence, args.contacts, args.agents)
        return
    in_process(args.steps, args.seed, args.freeze)


if __name__ == "__main__":
    main()
