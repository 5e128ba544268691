"""Benchmark: inbound messages end to end — received, committed, visible to an agent.

Run:  .venv/bin/python bench/intake.py [--backends sqlite,postgres] [--seconds 15]
      (PostgreSQL: --postgres-url or JIETONG_TEST_POSTGRES_URL, a role that may create
      databases; the benchmark makes its own database and drops it afterwards)

What is measured, per backend, in one run:

* A real server (`jietong serve`, one process, migrations, outbox relay, delivery worker,
  routing engine when installed) on loopback. Customers' messages are POSTed to the API
  channel (`/api/v1/channels/api/{account}/messages`, bearer inbound token), the path
  any integration uses: HTTP, validation, intake's one transaction (dedupe, identity,
  threading, message, raw payload, outbox), commit, 201. 500 different senders, so the
  run mixes new customers and conversations with messages joining open ones.
* "Visible to an agent": an agent of the queue's team is connected to the live event
  stream (`/api/v1/stream`, WebSocket). A message's latency runs from the moment its
  POST starts to the moment that agent receives its `InboundMessageReceived` event
  (relay, bus, per-agent filter and WebSocket included).
* Sustained throughput: `--concurrency` clients send back to back for `--seconds`
  (closed loop); messages/s counts those committed in the window.
* Latency at a set rate: messages sent open loop at `--rate` per second (or 90% of the
  sustained rate when that is lower) for `--seconds`; p50/p99 of the latency above.
* Raw insert ceiling of the same database: one INSERT of a message-sized row and a
  COMMIT per transaction, sequentially, with Jietong's durability settings (SQLite WAL
  with synchronous=FULL; PostgreSQL defaults), in the same run.
* Where the time goes, without HTTP (after the server stopped): "intake grouped" — the
  group committer in-process with 32 messages outstanding (rate, process CPU per
  message, mean batch, statements per message); "intake alone" — one message per
  transaction through `intake.receive`, split into commit, raw payload write and the rest.

Last line per backend, machine-readable (the script's last line is the last backend's):
RESULT intake backend=... msgs_per_s=... p50_ms=... p99_ms=... raw_insert_per_s=...
ratio=... rate=...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import websockets
from _benchdb import database
from sqlalchemy import event, text

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.auth import service as auth_service
from jietong.channels import accounts
from jietong.channels.accounts import WebhookAccount, find_webhook_account
from jietong.channels.base import InboundMessage, Party
from jietong.core.ids import new_id
from jietong.core.permissions import ROLE_PERMISSIONS
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.identity.contact_points import ContactKind
from jietong.interactions import intake
from jietong.interactions.committer import IntakeRequest
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate, UserCreate
from jietong.storage.blobs import BlobStore
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade

SENDERS = 500
WARMUP_SECONDS = 2.0
TEXTS = (
    "你好，我的订单 {n} 还没有发货，请帮忙查一下物流。",
    "Hello, order {n} arrived damaged; how do I get a replacement?",
    "发票抬头需要修改，订单号 {n}，谢谢！",
)


@dataclass(frozen=True)
class Target:
    base: str
    account_id: str
    inbound_token: str
    agent_token: str


@dataclass
class Sample:
    sent: float
    acked: float | None = None
    message_id: str | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)  # "HTTP 429", "ReadTimeout"…
    warm_committed: int = 0  # messages of the warm-up, for CPU per message

    def failed(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


# --- the database and the server -----------------------------------------------------------


def prepare(url: str, data_dir: Path, port: int) -> Target:
    """Schema, an organisation with a chat team and queue, an agent with a token, and an
    API-channel account routed to the queue — written directly, before the server starts."""
    settings = Settings(data_dir=data_dir, database_url=url, secret_key="bench")
    platform = build_platform(settings)
    upgrade(platform.engine)
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug="bench", name="Bench Co.")
    system = system_actor(org.id)
    with platform.uow() as uow:
        team = org_service.create_team(uow, system, TeamCreate(name="Front line"))
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, system, QueueCreate(name="Inbox", channels=["api"], team_id=team.id)
        )
    with platform.uow() as uow:
        user = org_service.create_user(
            uow,
            system,
            UserCreate(
                username="agent",
                display_name="Agent",
                password="bench-agent-2026",
                role=Role.AGENT,
                team_ids=[team.id],
            ),
        )
    agent = Actor(org.id, user.user.id, Role.AGENT, frozenset({team.id}))
    with platform.uow() as uow:
        token = auth_service.issue_token(
            uow,
            agent,
            name="bench",
            scopes=[p.value for p in ROLE_PERMISSIONS[Role.AGENT]],
            expires_at=None,
        ).token
    inbound = "bench-inbound-token-2026"
    with platform.uow() as uow:
        account = accounts.create_account(
            uow,
            system,
            platform.channels,
            channel="api",
            provider="app",
            changes=accounts.AccountChanges(
                name="POS",
                queue_id=queue.id,
                secrets={"inbound_token": inbound, "webhook_secret": "bench-webhook-2026"},
            ),
        )
    platform.close()
    return Target(f"http://127.0.0.1:{port}", account.id, inbound, token)


@contextlib.contextmanager
def server(
    url: str, data_dir: Path, port: int, writer: str = "thread"
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIETONG_")}
    env.update(
        JIETONG_DATA_DIR=str(data_dir),
        JIETONG_DATABASE_URL=url,
        JIETONG_SECRET_KEY="bench",
        JIETONG_LOG_LEVEL="WARNING",
        JIETONG_SMTP_ENABLED="false",
        JIETONG_INTAKE_WRITER=writer,
    )
    # The server's log goes to a file: a pipe nobody reads fills up (64 KiB) and then
    # blocks every thread that logs, which would stall the server mid-run.
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jietong.app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        wait_healthy(proc, port, log_path)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        logged = log_path.read_text(errors="replace")
        if "Traceback" in logged or " ERROR " in logged:
            print(f"server log ({log_path}) has errors; its end:\n{logged[-3000:]}")


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log_path.read_text(errors="replace")
            raise SystemExit(f"the server exited: {err[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("the server did not start within 90 s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- raw insert ceiling --------------------------------------------------------------------


def raw_insert_rate(url: str, rows: int) -> float:
    """Sequential single-row INSERT + COMMIT with the platform's engine settings."""
    engine = create_db_engine(url)
    body = TEXTS[0].format(n=123456) * 2
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_raw (id VARCHAR(32) PRIMARY KEY, body TEXT)"))
    try:
        start = time.perf_counter()
        for _ in range(rows):
            with engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO bench_raw (id, body) VALUES (:id, :body)"),
                    {"id": new_id(), "body": body},
                )
        return rows / (time.perf_counter() - start)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE bench_raw"))
        engine.dispose()


# --- load ----------------------------------------------------------------------------------


class Load:
    """Sends messages and listens, as the agent, for them to become visible."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.counter = 0
        # aiohttp, not httpx: on this 2-core machine the load generator shares the CPU
        # with the server, and httpx spent ~2.5 ms of CPU per request (aiohttp ~0.5).
        self.http = aiohttp.ClientSession(
            base_url=target.base,
            headers={"Authorization": f"Bearer {target.inbound_token}"},
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=256),
        )

    async def close(self) -> None:
        await self.http.close()

    async def listen(self, run: Run, ready: asyncio.Event, stop: asyncio.Event) -> None:
        base = self.target.base.replace("http://", "ws://") + "/api/v1/stream"
        headers = {"Authorization": f"Bearer {self.target.agent_token}"}
        # Start from the newest publication number (the hello frame of a first connection):
        # replaying a previous run's events from 0 would exceed the stream's replay limit.
        async with websockets.connect(f"{base}?after=0", additional_headers=headers) as probe:
            position = int(json.loads(await probe.recv())["position"])
        url = f"{base}?after={position}"
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                frame = json.loads(raw)
                if frame.get("event_type") == "InboundMessageReceived":
                    run.seen.setdefault(frame["payload"]["message_id"], time.perf_counter())

    async def send_one(self, run: Run) -> None:
        self.counter += 1
        n = self.counter
        sample = Sample(sent=time.perf_counter())
        run.samples.append(sample)
        body = {
            "external_id": f"bench-{new_id()}",
            "sender": {"kind": "chat_visitor", "id": f"member-{n % SENDERS:05d}"},
            "text": TEXTS[n % len(TEXTS)].format(n=n),
        }
        try:
            async with self.http.post(
                f"/api/v1/channels/api/{self.target.account_id}/messages", json=body
            ) as r:
                if r.status != 201:
                    run.failed(f"HTTP {r.status}")
                    return
                answer = await r.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            run.failed(type(exc).__name__)
            return
        sample.acked = time.perf_counter()
        sample.message_id = answer["message_id"]

    async def closed_loop(self, run: Run, seconds: float, concurrency: int) -> None:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await self.send_one(run)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open_loop(self, run: Run, seconds: float, rate: float) -> None:
        start = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while (due := start + i / rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(self.send_one(run))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*tasks)


async def measure(target: Target, mode: str, seconds: float, value: float) -> Run:
    load = Load(target)
    run = Run()
    ready, stop = asyncio.Event(), asyncio.Event()
    listener = asyncio.create_task(load.listen(run, ready, stop))
    await asyncio.wait_for(ready.wait(), 30)
    warm = Run()
    await load.closed_loop(warm, WARMUP_SECONDS, 4)
    run.warm_committed = sum(1 for s in warm.samples if s.message_id is not None)
    if mode == "closed":
        await load.closed_loop(run, seconds, int(value))
    else:
        await load.open_loop(run, seconds, value)
    # Wait until the agent has seen every committed message (or give up after 30 s).
    deadline = time.perf_counter() + 30
    acked = {s.message_id for s in run.samples if s.message_id}
    while time.perf_counter() < deadline and not acked <= run.seen.keys():
        await asyncio.sleep(0.05)
    stop.set()
    await listener
    await load.close()
    return run


@dataclass(frozen=True)
class Figures:
    committed: int
    per_second: float
    p50_ms: float
    p99_ms: float
    ack_p99_ms: float
    unseen: int
    errors: int
    error_kinds: str
    server_cpu_ms: float  # the server process's CPU per committed message (all threads)
    client_cpu_ms: float  # this load generator's, likewise


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far (Linux /proc), all threads, of process `pid` and its
    running children (the intake writer process, with `--writer process`)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself, or ppid
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(
    proc: subprocess.Popen[bytes], target: Target, mode: str, seconds: float, value: float
) -> Figures:
    """Run one phase; its figures with the CPU both sides spent per message. CPU is
    a load-independent figure: on a shared machine the rates move with the neighbours'
    load, the milliseconds of CPU per message much less."""
    server_before, client_before = cpu_seconds(proc.pid), time.process_time()
    run = asyncio.run(measure(target, mode, seconds, value))
    server_cpu = cpu_seconds(proc.pid) - server_before
    client_cpu = time.process_time() - client_before
    return figures(run, seconds, server_cpu, client_cpu)


def figures(run: Run, seconds: float, server_cpu: float, client_cpu: float) -> Figures:
    done = [s for s in run.samples if s.message_id is not None]
    visible = [run.seen[s.message_id] - s.sent for s in done if s.message_id in run.seen]
    acks = [s.acked - s.sent for s in done if s.acked is not None]
    messages = max(1, len(done) + run.warm_committed)
    return Figures(
        committed=len(done),
        per_second=len(done) / seconds,
        p50_ms=percentile(visible, 50) * 1000,
        p99_ms=percentile(visible, 99) * 1000,
        ack_p99_ms=percentile(acks, 99) * 1000,
        unseen=len(done) - len(visible),
        errors=run.errors,
        error_kinds=", ".join(f"{k} {n}" for k, n in sorted(run.error_kinds.items())) or "-",
        server_cpu_ms=server_cpu * 1000 / messages,
        client_cpu_ms=client_cpu * 1000 / messages,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# --- where the time goes ------------------------------------------------------------------


class TimedBlobs:
    """The platform's blob store, timing each durable write (write, fsync, rename)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.seconds = 0.0

    def put(self, data: bytes) -> str:
        start = time.perf_counter()
        try:
            return self.inner.put(data)
        finally:
            self.seconds += time.perf_counter() - start

    def get(self, key: str) -> bytes:
        return self.inner.get(key)


def explain(url: str, data_dir: Path, target: Target, count: int) -> list[str]:
    """Intake alone, in-process and sequential (no HTTP, no server around it): how long
    one message takes and how that splits into the commit, the raw payload's durable
    write and the rest (SQL statements and Python), and how many statements it runs."""
    platform = build_platform(Settings(data_dir=data_dir, database_url=url, secret_key="bench"))
    statements = 0

    def counted(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(platform.engine, "before_cursor_execute", counted)
    blobs = TimedBlobs(platform.blobs)
    with platform.uow() as uow:
        found = find_webhook_account(uow, target.account_id, "api")
    assert found is not None
    commit_seconds = 0.0
    start = time.perf_counter()
    for n in range(count):
        message = InboundMessage(
            channel="api",
            org_id=found.org_id,
            external_id=f"explain-{new_id()}",
            sender=Party(ContactKind.CHAT_VISITOR, f"explain-{n % 50:03d}"),
            received_at=platform.clock(),
            text=TEXTS[n % len(TEXTS)].format(n=n),
            raw=b'{"explain": true}',
            account_id=found.account.id,
            queue_id=found.queue_id,
        )
        with platform.uow() as uow:
            plain_commit = uow.commit

            def timed_commit(commit: Callable[[], None] = plain_commit) -> None:
                nonlocal commit_seconds
                began = time.perf_counter()
                commit()
                commit_seconds += time.perf_counter() - began

            uow.commit = timed_commit  # type: ignore[method-assign]
            intake.receive(uow, message, default_region="CN", now=uow.now, blobs=blobs)
    total = time.perf_counter() - start
    per = 1000 / count
    grouped = explain_grouped(platform, found, count * 5)
    platform.close()
    return [
        grouped,
        f"intake alone (in-process, sequential, {count} msgs): {count / total:.0f} msgs/s, "
        f"{total * per:.1f} ms per message = commit {commit_seconds * per:.1f} ms "
        f"+ raw payload write {blobs.seconds * per:.1f} ms "
        f"+ SQL and Python {(total - commit_seconds - blobs.seconds) * per:.1f} ms; "
        f"{statements / count:.1f} statements per message",
    ]


def explain_grouped(platform: Platform, found: WebhookAccount, count: int) -> str:
    """Intake through the group committer, in-process (no HTTP): 32 messages outstanding
    at a time, as 32 concurrent webhooks would keep them. Reports the rate, the process's
    CPU per message (the figure that bounds a 2-core machine), the mean batch and the
    statements per message."""
    statements = 0

    def counted(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(platform.engine, "before_cursor_execute", counted)
    before = platform.intake.stats()
    pending: list[Future[intake.IntakeResult]] = []
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        message = InboundMessage(
            channel="api",
            org_id=found.org_id,
            external_id=f"grouped-{new_id()}",
            sender=Party(ContactKind.CHAT_VISITOR, f"member-{n % SENDERS:05d}"),
            received_at=platform.clock(),
            text=TEXTS[n % len(TEXTS)].format(n=n),
            raw=json.dumps({"external_id": n, "text": TEXTS[0]}).encode(),
            account_id=found.account.id,
            queue_id=found.queue_id,
        )
        prepared = intake.prepare(message, blobs=platform.blobs)
        pending.append(platform.intake.submit(IntakeRequest(prepared, default_region="CN")))
        if len(pending) >= 32:
            pending.pop(0).result()
    for future in pending:
        future.result()
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    event.remove(platform.engine, "before_cursor_execute", counted)
    after = platform.intake.stats()
    batches = max(1, after.batches - before.batches)
    return (
        f"intake grouped (in-process, 32 outstanding, {count} msgs): {count / total:.0f} "
        f"msgs/s, CPU {cpu / count * 1000:.2f} ms per message, mean batch "
        f"{(after.messages - before.messages) / batches:.1f}, "
        f"{statements / count:.1f} statements per message"
    )


# --- main ----------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="jt-bench-") as tmp:
        root = Path(tmp)
        with database(backend, args.postgres_url, root) as url:
            port = free_port()
            target = prepare(url, root / "data", port)
            raw = raw_insert_rate(url, args.raw_rows)
            with server(url, root / "data", port, args.writer) as proc:
                closed = measured(proc, target, "closed", args.seconds, args.concurrency)
                rate = min(args.rate, 0.9 * closed.per_second)
                paced = measured(proc, target, "open", args.seconds, rate)
            alone = explain(url, root / "data", target, args.explain)
    for line in alone:
        print(f"[{backend}] {line}")
    print(f"[{backend}] raw insert+commit: {raw:9.0f} rows/s (sequential, one row per commit)")
    print(
        f"[{backend}] sustained ({args.concurrency} clients, {args.seconds:.0f} s): "
        f"{closed.per_second:7.0f} msgs/s committed ({closed.committed} msgs, "
        f"{closed.errors} errors: {closed.error_kinds}); visible to the agent p50 "
        f"{closed.p50_ms:.1f} ms, "
        f"p99 {closed.p99_ms:.1f} ms; 201 p99 {closed.ack_p99_ms:.1f} ms; unseen {closed.unseen}; "
        f"CPU per message: server {closed.server_cpu_ms:.2f} ms, "
        f"load generator {closed.client_cpu_ms:.2f} ms"
    )
    print(
        f"[{backend}] paced at {rate:.0f} msgs/s ({args.seconds:.0f} s): "
        f"{paced.per_second:7.0f} msgs/s committed, {paced.errors} errors "
        f"({paced.error_kinds}); visible to the "
        f"agent p50 {paced.p50_ms:.1f} ms, p99 {paced.p99_ms:.1f} ms; 201 p99 "
        f"{paced.ack_p99_ms:.1f} ms; unseen {paced.unseen}; CPU per message: server "
        f"{paced.server_cpu_ms:.2f} ms"
    )
    ratio = closed.per_second / raw if raw else 0.0
    print(f"[{backend}] intake / raw insert ceiling: {ratio:.0%}")
    return (
        f"RESULT intake backend={backend} msgs_per_s={closed.per_second:.0f} "
        f"p50_ms={paced.p50_ms:.1f} p99_ms={paced.p99_ms:.1f} "
        f"raw_insert_per_s={raw:.0f} ratio={ratio:.2f} rate={rate:.0f} "
        f"server_cpu_ms={closed.server_cpu_ms:.2f} writer={args.writer}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=15.0)
    # Enough senders that the closed loop measures the server, not the round trip: with
    # group commit each request waits for its batch's commit, so 16 back-to-back
    # clients cap the rate at 16 / (commit interval) whatever the server could take.
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--raw-rows", type=int, default=2000)
    parser.add_argument("--explain", type=int, default=200, help="Messages for the split.")
    parser.add_argument(
        "--writer",
        choices=("thread", "process"),
        default="thread",
        help="The server's intake writer (JIETONG_INTAKE_WRITER).",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("JIETONG_TEST_POSTGRES_URL"),
        help="A server where the role may create databases.",
    )
    args = parser.parse_args()
    for backend in args.backends.split(","):
        print(bench_backend(backend.strip(), args), flush=True)


if __name__ == "__main__":
    main()
