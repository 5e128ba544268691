"""The workforce-planning web page: who may use it, what it shows, what it serves.

Runs on SQLite only: the page reads history through the same store as the CLI, which
tests/integration/test_wfm_history.py checks on both backends; here the subject is the
HTTP layer (authorisation, tenancy, bounds, charts and downloads)."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Iterator

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.web.wfm_pages import PlanRuns
from jietong.wfm import store
from tests.conftest import Tenant, make_user
from tests.integration.wfm_factories import insert_rows, make_queue, weekday_history

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PASSWORD = "correct-horse-9"


@pytest.fixture
def queues(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> Iterator[tuple[store.QueueInfo, store.QueueInfo]]:
    """org-a: 6 calls an hour on weekdays; org-b: 15 calls and some email an hour."""
    now = dt.datetime.now(dt.UTC)
    general_a = make_queue(platform, tenant_a, "General")
    general_b = make_queue(platform, tenant_b, "General")
    rows = weekday_history(tenant_a.org_id, general_a.id, "call", per_hour=6, now=now)
    rows += weekday_history(tenant_b.org_id, general_b.id, "call", per_hour=15, now=now)
    rows += weekday_history(tenant_b.org_id, general_b.id, "email", per_hour=3, now=now)
    insert_rows(platform, rows)
    yield general_a, general_b


def sign_in(client: TestClient, platform: Platform, tenant: Tenant, role: Role) -> None:
    username = f"{tenant.org_id[-6:]}-{role.value}"
    make_user(platform, tenant.org_id, username, role, [tenant.team_id])
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text  # followed the redirect to /home


def plan_query(queue_id: str, **changes: str) -> str:
    params = {"run": "1", "queue": queue_id, "channel": "call", "interval": "60",
              "horizon": "2", "weeks": "6", "sl": "80", "t": "20", "shrinkage": "25"}  # fmt: skip
    params.update(changes)
    return "&".join(f"{k}={v}" for k, v in params.items())


def links(page: str, pattern: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(pattern, page)]


def test_without_a_session_every_wfm_url_goes_to_login(client: TestClient) -> None:
    for path in ("/wfm", "/wfm?run=1", "/wfm/chart/forecast.svg?run=1", "/wfm/plan.csv?run=1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login"


def test_supervisors_admins_and_read_only_users_only(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    roles = {Role.ADMIN: True, Role.SUPERVISOR: True, Role.READ_ONLY: True,
             Role.AGENT: False, Role.BACK_OFFICE: False}  # fmt: skip
    for role, allowed in roles.items():
        sign_in(client, platform, tenant_a, role)
        home = client.get("/home", headers={"Accept-Language": "en"})
        assert ('href="/wfm"' in home.text) is allowed, role
        page = client.get("/wfm", headers={"Accept-Language": "zh-CN"})
        if allowed:
            assert page.status_code == 200, role
            assert "人力规划" in page.text and 'name="horizon"' in page.text
            continue
        assert page.status_code == 403, role
        assert "您的角色无权使用此功能" in page.text
        chart = client.get("/wfm/chart/forecast.svg?run=1", follow_redirects=False)
        download = client.get("/wfm/plan.xlsx?run=1", follow_redirects=False)
        assert chart.status_code == download.status_code == 403


def test_a_token_without_interactions_read_is_refused(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    from jietong.auth import service as auth_service

    with platform.uow() as uow:
        token = auth_service.issue_token(
            uow, tenant_a.admin, name="narrow", scopes=["customers:read"], expires_at=None
        ).token
    narrow = client.get("/wfm", headers={"Authorization": f"Bearer {token}"})
    assert narrow.status_code == 403
    full = client.get("/wfm", headers=tenant_a.headers)
    assert full.status_code == 200


def test_plan_page_charts_and_downloads(
    client: TestClient,
    platform: Platform,
    tenant_a: Tenant,
    queues: tuple[store.QueueInfo, store.QueueInfo],
) -> None:
    general_a, _ = queues
    sign_in(client, platform, tenant_a, Role.SUPERVISOR)
    page = client.get(
        "/wfm?" + plan_query(general_a.id, schedule="1"), headers={"Accept-Language": "en"}
    )
    assert page.status_code == 200, page.text
    text = page.text
    # The accuracy table: every model with its WAPE and MASE, baselines marked.
    table = text[
        text.index('id="wfm-accuracy"') : text.index("</table>", text.index("wfm-accuracy"))
    ]
    for name in ("Same day last week", "4-week moving average", "Level × profile (ETS)"):
        assert name in table
    assert table.count("baseline") == 2 and "chosen" in table
    assert "Plan for General · Voice calls" in text
    assert "Average handle time 200 s (measured in the history)" in text
    assert "No abandonments in the history: Erlang C" in text

    charts = links(text, r'<img src="([^"]+)"')
    assert [c.split("?")[0] for c in charts] == [
        "/wfm/chart/forecast.svg",
        "/wfm/chart/coverage.svg",
        "/wfm/chart/service_level.svg",
    ]
    for src in charts:
        image = client.get(src)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/svg+xml"
        assert image.content.lstrip().startswith(b"<?xml") and b"<svg" in image.content
        assert "sandbox" in image.headers["content-security-policy"]

    csv_url, xlsx_url = links(text, r'href="(/wfm/plan\.(?:csv|xlsx)\?[^"]+)"')
    csv = client.get(csv_url)
    assert csv.status_code == 200
    assert csv.headers["content-disposition"].startswith("attachment; filename=")
    intervals = pd.read_csv(io.BytesIO(csv.content))
    assert len(intervals) == 2 * 8  # two open days of eight hours
    # org-a's six calls an hour, never org-b's fifteen.
    assert intervals["forecast_contacts"].mean() == pytest.approx(6, abs=1.5)
    assert intervals["sim_service_level"].notna().any()
    xlsx = client.get(xlsx_url)
    assert xlsx.headers["content-disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["intervals", "days", "accuracy", "forecast", "shifts", "coverage"]


def test_chinese_page(
    client: TestClient,
    platform: Platform,
    tenant_a: Tenant,
    queues: tuple[store.QueueInfo, store.QueueInfo],
) -> None:
    general_a, _ = queues
    sign_in(client, platform, tenant_a, Role.READ_ONLY)
    page = client.get("/wfm?" + plan_query(general_a.id), headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "预测准确度" in page.text and "每日计划" in page.text
    assert "4 周移动平均" in page.text
    # Without shifts there is no simulation, hence no service-level chart.
    assert [c.split("?")[0] for c in links(page.text, r'<img src="([^"]+)"')] == [
        "/wfm/chart/forecast.svg",
        "/wfm/chart/coverage.svg",
    ]


def test_another_organisations_data_is_never_used(
    client: TestClient,
    platform: Platform,
    tenant_a: Tenant,
    queues: tuple[store.QueueInfo, store.QueueInfo],
) -> None:
    general_a, general_b = queues
    sign_in(client, platform, tenant_a, Role.ADMIN)
    en = {"Accept-Language": "en"}
    foreign = client.get("/wfm?" + plan_query(general_b.id), headers=en)
    assert foreign.status_code == 400
    assert "Your organisation has no such queue." in foreign.text
    chart = client.get("/wfm/chart/forecast.svg?" + plan_query(general_b.id))
    assert chart.status_code == 400
    # org-b has email history, org-a has none: org-a's email plan finds nothing.
    email = client.get("/wfm?" + plan_query(general_a.id, channel="email"), headers=en)
    assert email.status_code == 400
    assert "No inbound interactions" in email.text
    everything = client.get("/wfm?" + plan_query("", channel=""), headers=en)
    assert everything.status_code == 200
    assert "History" in everything.text and re.search(r": (\d+) inbound contacts", everything.text)
    found = re.search(r": (\d+) inbound contacts", everything.text)
    assert found is not None
    # Only org-a's calls: six an hour, 8 hours, 30 weekdays, minus six quiet Wednesday hours.
    assert int(found.group(1)) == 6 * (8 * 30 - 6)


BAD_FORMS = (
    ({"horizon": "15"}, "Open days to plan (at most 14) must be a number from 1 to 14."),
    ({"interval": "5"}, "The interval must be 15, 30 or 60 minutes."),
    ({"weeks": "52"}, "Weeks of history must be a number from 3 to 26."),
    ({"channel": "fax"}, "Unknown channel."),
    ({"aht": "-3"}, "must be a number from 1 to 36000"),
    ({"queue": "x';--"}, "Your organisation has no such queue."),
)


def test_bad_forms_are_refused_with_a_reason(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    sign_in(client, platform, tenant_a, Role.SUPERVISOR)
    for changes, message in BAD_FORMS:
        page = client.get("/wfm?" + plan_query("x", **changes), headers={"Accept-Language": "en"})
        assert page.status_code == 400, changes
        assert message in html.unescape(page.text), changes


def test_an_abandonment_cap_needs_abandonment_history(
    client: TestClient,
    platform: Platform,
    tenant_a: Tenant,
    queues: tuple[store.QueueInfo, store.QueueInfo],
) -> None:
    sign_in(client, platform, tenant_a, Role.SUPERVISOR)
    query = plan_query(queues[0].id, abandon="5")
    page = client.get("/wfm?" + query, headers={"Accept-Language": "en"})
    assert page.status_code == 400
    assert "An abandonment cap needs abandoned contacts" in html.unescape(page.text)


def test_a_busy_planner_says_so_instead_of_queueing(
    client: TestClient,
    platform: Platform,
    tenant_a: Tenant,
    queues: tuple[store.QueueInfo, store.QueueInfo],
) -> None:
    sign_in(client, platform, tenant_a, Role.SUPERVISOR)
    runs = PlanRuns()
    client.app.state.wfm_plan_runs = runs  # type: ignore[attr-defined]
    held = [runs.slots.acquire(blocking=False) for _ in range(2)]
    assert all(held)
    try:
        page = client.get("/wfm?" + plan_query(queues[0].id), headers={"Accept-Language": "en"})
    finally:
        for _ in held:
            runs.slots.release()
    assert page.status_code == 503
    assert "Planning is busy" in page.text
    again = client.get("/wfm?" + plan_query(queues[0].id), headers={"Accept-Language": "en"})
    assert again.status_code == 200
