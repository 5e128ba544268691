"""Calls through a real Kamailio running the configuration of docs/howto/kamailio.md (read
from the how-to itself, so the document is what is tested), in front of Jietong's SIP
signaling on PostgreSQL (Kamailio checks digests against the how-to's view over
`sip_phone_accounts`):

* an agent phone answers Kamailio's digest challenge; its call reaches Jietong with
  ``X-Jietong-Phone`` from Kamailio, whose trunk is ``trusted_edge``: the call is the
  phone's (it dials out as the agent);
* a carrier (its address in Kamailio's carriers list) that writes the same header
  itself has it stripped: its call stays a carrier's call (no toll fraud).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.core.tenancy import Role
from jietong.telephony.sip import service as sip_service
from jietong.telephony.sip.schemas import PhoneCreate, TrunkCreate
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import make_tenant, make_user

from .sip_harness import Recorder, free_udp_port, running, sipp

pytestmark = pytest.mark.slow
HOWTO = Path(__file__).resolve().parents[3] / "docs" / "howto" / "kamailio.md"
REALM = "jietong"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@pytest.fixture
def pg_platform(db_url_postgres_only: str, tmp_path: Path) -> Iterator[Platform]:
    built = build_platform(
        Settings(
            data_dir=tmp_path / "data",
            database_url=db_url_postgres_only,
            secret_key="test-secret",
            sip_realm=REALM,
        )
    )
    yield built
    built.close()


def _howto_config(db_url: str, port: int, jietong_port: int, workdir: Path) -> Path:
    """kamailio.cfg exactly as documented, but for the test's database, ports and files."""
    howto = HOWTO.read_text()
    cfg = re.search(r"## kamailio.cfg\n\n```\n(.*?)```", howto, re.S)
    view = re.search(r"```sql\n(.*?)```", howto, re.S)
    assert cfg is not None and view is not None
    url = make_url(db_url)
    text_ = cfg.group(1)
    for old, new in (
        ("postgres://kamailio:secret@127.0.0.1/jietong",
         f"postgres://{url.username}:{url.password}@{url.host}:{url.port or 5432}/{url.database}"),
        ("listen=udp:0.0.0.0:5060", f"listen=udp:127.0.0.1:{port}"),
        ("children=4", "children=2"),
        ("/etc/kamailio/carriers.list", str(workdir / "carriers.list")),
        ("/etc/kamailio/dispatcher.list", str(workdir / "dispatcher.list")),
    ):  # fmt: skip
        assert old in text_, old
        text_ = text_.replace(old, new)
    (workdir / "carriers.list").write_text("1 127.0.0.2 32 0\n")  # the "carrier"
    (workdir / "dispatcher.list").write_text(f"1 sip:127.0.0.1:{jietong_port}\n")
    path = workdir / "kamailio.cfg"
    path.write_text(text_)
    # The how-to's HA1 view (its GRANT names a role this database does not have).
    statements = [s for s in view.group(1).split(";") if s.strip() and "GRANT" not in s]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    return path


def test_phone_calls_through_kamailio_are_the_phones_and_carriers_cannot_pretend(
    pg_platform: Platform, db_url_postgres_only: str, tmp_path: Path
) -> None:
    _need("kamailio")
    _need("sipp")
    platform = pg_platform
    tenant = make_tenant(platform, "kamailio")
    agent = make_user(platform, tenant.org_id, "li.na", Role.AGENT, [tenant.team_id])
    kamailio_port = free_udp_port()
    with platform.uow() as uow:
        phone, password = sip_service.create_phone(
            uow, tenant.admin, PhoneCreate(user_id=agent.user_id, username="1001"), realm=REALM
        )
    with platform.uow() as uow:
        sip_service.create_trunk(
            uow,
            tenant.admin,
            TrunkCreate(
                name="kamailio", host="127.0.0.1", port=kamailio_port,
                allowed_sources=["127.0.0.1/32"], trusted_edge=True,
            ),
        )  # fmt: skip
    rundir = tmp_path / "run"
    rundir.mkdir()
    kamailio_log = tmp_path / "kamailio.log"

    async def scenario() -> tuple[list[tuple[int, str]], Recorder]:
        recorder = Recorder()
        directory = SqlSipDirectory(platform.sessions)
        async with running(directory, recorder, realm=REALM) as signaling:
            config = _howto_config(db_url_postgres_only, kamailio_port, signaling.port, tmp_path)
            with kamailio_log.open("wb") as log:
                kamailio = subprocess.Popen(
                    ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(rundir)],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                await asyncio.sleep(1.5)  # Kamailio up
                runs = []
                for source, extra in (
                    ("127.0.0.1", ("-au", "1001", "-ap", password)),  # the phone
                    ("127.0.0.2", ()),  # the carrier, forging the header
                ):
                    run = await sipp(
                        "uac_via_proxy.xml", kamailio_port, service="013900001111",
                        extra=("-key", "phone", "1001", "-i", source, *extra),
                        pause_ms=300, workdir=tmp_path, timeout_s=20,
                    )  # fmt: skip
                    runs.append((run.returncode, run.errors))
                    if run.returncode == 0:
                        await recorder.wait_for("ended", len(runs))
                return runs, recorder
            finally:
                kamailio.terminate()
                await asyncio.to_thread(kamailio.wait, 10)

    runs, recorder = asyncio.run(scenario())
    logged = kamailio_log.read_text(errors="replace")[-3000:]
    assert all(code == 0 for code, _ in runs), (runs, logged)
    by_phone, by_carrier = recorder.offered
    # The phone's call, as if it had come straight to Jietong with its digest.
    assert by_phone.phone_user == phone.row.username == "1001"
    assert by_phone.org_id == tenant.org_id and by_phone.trunk_id is None
    # The carrier wrote X-Jietong-Phone too: Kamailio removed it, Jietong saw a trunk call.
    assert by_carrier.phone_user is None and by_carrier.trunk_id is not None
