"""Benchmark: received mail over real SMTP sessions into intake, before and after the
intake committer (ADR 0012, issue 3).

Run:  .venv/bin/python bench/email_intake.py [--backends sqlite,postgres] [--mails 600]
      [--clients 1,16]
      (PostgreSQL: --postgres-url or JIETONG_TEST_POSTGRES_URL, a role that may create
      databases; the benchmark makes its own database and drops it afterwards)

In process, per backend and per number of clients, in one run on one database:

* The built-in SMTP receiver (aiosmtpd, `SmtpReceiver`) on loopback; `--clients`
  smtplib clients, each on its own SMTP session, send `--mails` mails in all, back to
  back (a sending server reusing its connection). Each mail: 200 different senders,
  UTF-8 text, about 1 KB. A mail counts once `sendmail` returned, i.e. after 250, which
  the receiver gives only once the mail is committed.
* "committer": the receiver's sink as the server runs it (`PlatformMailSink`): look-ups
  on read-only units of work, storing through the platform's intake committer.
* "per mail": the reference, the path before this change — the same service code with
  every mail stored in a transaction of its own on the calling thread (`intake.stage`
  and a commit, what `intake.receive` does) and look-ups on writable units of work.
* "SMTP only": a sink that stores nothing — the ceiling the SMTP dialogue itself allows.
* CPU ms per mail: the process's CPU time over the phase per mail (the clients run in the
  same process; "SMTP only" shows their and the dialogue's share). On a loaded machine
  this is steadier than the rate.
* The IMAP poller's path without IMAP: `receive_mails` one mail at a time, then in the
  poller's fetch groups of 25 (half of --mails each).

Each phase gets its own organisation and account (so no mail is a duplicate of an
earlier phase's); afterwards every phase's mail is counted in the database: a 250 for a
mail that is not there would be a lost mail. The phases run in `--rounds` interleaved
rounds of `--mails / --rounds` mails each (the machine's load changes by the minute, and
falls on every phase alike this way); the figures are the rounds' medians.

Last line: RESULT email_intake backend=... clients=... per_mail_msgs_per_s=...
committer_msgs_per_s=... speedup=... smtp_only_msgs_per_s=... per_mail_cpu_ms=...
committer_cpu_ms=... imap_one_per_s=... imap_group25_per_s=... (the last --clients of
the last backend).
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

from _benchdb import database
from sqlalchemy import func, select

from jietong.app.email_runtime import PlatformMailSink, mail_context
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.channels.email import service
from jietong.channels.email.smtp_in import MailSink, ReceivedMail, SmtpReceiver
from jietong.core.ids import new_id
from jietong.interactions import intake
from jietong.interactions.committer import IntakeRequest
from jietong.org import service as org_service
from jietong.storage.migrate import upgrade
from jietong.storage.tables import MessageRow
from jietong.storage.tables_channels import ChannelAccountRow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def organisation(platform: Platform, label: str) -> tuple[str, str]:
    """(org id, the address its email account receives at)."""
    slug = f"{label}-{new_id()[-10:]}"
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug=slug, name=slug)
    address = f"support@{slug}.example"
    with platform.uow() as uow:
        uow.session.add(
            ChannelAccountRow(
                id=new_id(),
                org_id=org.id,
                channel="email",
                name="bench",
                provider="smtp",
                address=address,
                queue_id=None,
                settings={},
                secrets={},
                enabled=True,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
        uow.commit()
    return org.id, address


def mail(number: int, address: str, tag: str) -> bytes:
    sender = number % 200
    return (
        f"From: Customer {sender} <customer{sender}@example.cn>\r\nTo: {address}\r\n"
        f"Subject: 宽带问题 {number}\r\nMessage-ID: <{tag}-{number}@example.cn>\r\n"
        "Date: Tue, 5 Mar 2024 10:00:00 +0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "你好，宽带从昨天晚上开始无法连接，路由器的灯一直闪烁。请尽快安排师傅上门。\r\n"
        * 8
    ).encode()


class PerMailSink:
    """The reference: every mail in its own transaction, committed on the caller's
    thread, look-ups on writable units of work (the code path before the committer)."""

    def __init__(self, platform: Platform) -> None:
        self._context = replace(
            mail_context(platform), read_uow=platform.uow, submit=self._store_alone
        )
        self._platform = platform

    def _store_alone(self, request: IntakeRequest) -> Future[intake.IntakeResult]:
        done: Future[intake.IntakeResult] = Future()
        try:
            with self._platform.uow() as uow:
                result = intake.stage(
                    uow,
                    request.prepared,
                    default_region=request.default_region,
                    now=uow.now,
                    policy=request.policy,
                )
                if not result.duplicate:
                    uow.commit()
            done.set_result(result)
        except Exception as exc:
            done.set_exception(exc)
        return done

    def accepts(self, address: str) -> bool:
        return service.accepts(self._context, address)

    def store(self, mail: ReceivedMail) -> None:
        service.receive_delivery(
            self._context, mail.data, mail.recipients, envelope_from=mail.envelope_from
        )


class NullSink:
    """Stores nothing: the SMTP dialogue's own ceiling."""

    def accepts(self, address: str) -> bool:
        return True

    def store(self, mail: ReceivedMail) -> None:
        return None


@dataclass(frozen=True)
class Phase:
    name: str
    msgs_per_s: float
    cpu_ms: float  # process CPU per mail (server and clients: they share the process)
    errors: int
    org_id: str
    sent: int


def run_phase(name: str, sink: MailSink, platform: Platform, mails: int, clients: int) -> Phase:
    org_id, address = organisation(platform, name.lower().replace(" ", "-"))
    tag = new_id()
    receiver = SmtpReceiver(sink, host="127.0.0.1", port=free_port(), max_bytes=1024 * 1024)
    receiver.start()
    errors = 0
    sent = 0
    lock = threading.Lock()

    def client(first: int) -> None:
        nonlocal errors, sent
        with smtplib.SMTP("127.0.0.1", receiver.port, timeout=120) as smtp:
            for number in range(first, mails, clients):
                try:
                    smtp.sendmail("c@example.cn", [address], mail(number, address, tag))
                except smtplib.SMTPException:
                    with lock:
                        errors += 1
                    continue
                with lock:
                    sent += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    receiver.stop()
    return Phase(name, sent / elapsed, 1000 * cpu / max(sent, 1), errors, org_id, sent)


def imap_groups(platform: Platform, mails: int, group: int) -> tuple[float, float, float]:
    """Without SMTP: (mails/s one at a time, mails/s in IMAP fetch groups of `group`,
    CPU ms per mail of the grouped run) through `receive_mails`, as the poller calls it."""
    rates = []
    cpu_ms = 0.0
    for size in (1, group):
        org_id, address = organisation(platform, f"imap-{size}")
        with platform.read_uow() as uow:
            recipient = service.find_recipient(uow, address)
        assert recipient is not None
        context = mail_context(platform)
        tag = new_id()
        raws = [mail(n, address, tag) for n in range(mails)]
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, mails, size):
            outcomes = service.receive_mails(
                context, [service.Arrived(r, recipient, None) for r in raws[first : first + size]]
            )
            assert not any(isinstance(o, Exception) for o in outcomes), outcomes
        rates.append(mails / (time.perf_counter() - started))
        cpu_ms = 1000 * (time.process_time() - cpu) / mails
        assert stored(platform, org_id) == mails
    return rates[0], rates[1], cpu_ms


def stored(platform: Platform, org_id: str) -> int:
    with platform.read_uow() as uow:
        count = uow.session.scalar(
            select(func.count()).select_from(MessageRow).where(MessageRow.org_id == org_id)
        )
    return int(count or 0)


def measure_clients(
    platform: Platform, backend: str, clients: int, args: argparse.Namespace
) -> str:
    """`args.rounds` rounds of the three SMTP phases and the two IMAP runs, interleaved
    so that the machine's changing load falls on all of them alike; medians reported."""
    run_phase("warm-up", PlatformMailSink(platform), platform, 20, 2)
    per_round = max(args.mails // args.rounds, 1)
    runs: dict[str, list[Phase]] = {"per mail": [], "committer": [], "SMTP only": []}
    imap: list[tuple[float, float, float]] = []
    for _ in range(args.rounds):
        sinks: list[tuple[str, MailSink]] = [
            ("per mail", PerMailSink(platform)),
            ("committer", PlatformMailSink(platform)),
            ("SMTP only", NullSink()),
        ]
        for name, sink in sinks:
            phase = run_phase(name, sink, platform, per_round, clients)
            kept = phase.sent if name == "SMTP only" else stored(platform, phase.org_id)
            if kept != phase.sent:
                print(f"[{backend}] LOST MAIL in phase {name}", file=sys.stderr)
            runs[name].append(replace(phase, sent=kept))
        imap.append(imap_groups(platform, max(per_round // 2, 25), 25))
    for name, phases in runs.items():
        print(
            f"[{backend}] {name:<10} {clients:>3} clients, {args.rounds} x {per_round} mails: "
            f"{median(p.msgs_per_s for p in phases):7.1f} msgs/s acknowledged (250) "
            f"[rounds: {', '.join(f'{p.msgs_per_s:.0f}' for p in phases)}], "
            f"CPU {median(p.cpu_ms for p in phases):.2f} ms/mail, "
            f"{sum(p.errors for p in phases)} refused, {sum(p.sent for p in phases)} stored",
            flush=True,
        )
    stats = platform.intake.stats()
    print(
        f"[{backend}] committer so far: {stats.batches} commits for {stats.messages} mails "
        f"(largest batch {stats.largest_batch})",
        flush=True,
    )
    alone = median(i[0] for i in imap)
    groups = median(i[1] for i in imap)
    print(
        f"[{backend}] IMAP path in-process: one at a time {alone:.1f} mails/s, in fetch "
        f"groups of 25 {groups:.1f} mails/s (CPU {median(i[2] for i in imap):.2f} ms/mail)",
        flush=True,
    )
    per_mail = median(p.msgs_per_s for p in runs["per mail"])
    grouped = median(p.msgs_per_s for p in runs["committer"])
    result = (
        f"RESULT email_intake backend={backend} clients={clients} "
        f"per_mail_msgs_per_s={per_mail:.1f} committer_msgs_per_s={grouped:.1f} "
        f"speedup={grouped / per_mail:.2f} "
        f"smtp_only_msgs_per_s={median(p.msgs_per_s for p in runs['SMTP only']):.1f} "
        f"per_mail_cpu_ms={median(p.cpu_ms for p in runs['per mail']):.2f} "
        f"committer_cpu_ms={median(p.cpu_ms for p in runs['committer']):.2f} "
        f"imap_one_per_s={alone:.1f} imap_group25_per_s={groups:.1f}"
    )
    print(result, flush=True)
    return result


def bench_backend(backend: str, args: argparse.Namespace) -> str:
    result = ""
    with (
        tempfile.TemporaryDirectory(prefix="jt-email-bench-") as tmp,
        database(backend, args.postgres_url, Path(tmp)) as url,
    ):
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            secret_key="bench",
            smtp_enabled=False,
            delivery_worker_enabled=False,
        )
        platform = build_platform(settings)
        upgrade(platform.engine)
        try:
            for clients in args.clients:
                result = measure_clients(platform, backend, clients, args)
        finally:
            platform.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--mails", type=int, default=600, help="Per phase, over all rounds.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")], default=[1, 16])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("JIETONG_TEST_POSTGRES_URL"),
        help="A server where the role may create databases.",
    )
    args = parser.parse_args()
    last = ""
    for backend in args.backends.split(","):
        last = bench_backend(backend.strip(), args)
    print(last)


if __name__ == "__main__":
    main()
