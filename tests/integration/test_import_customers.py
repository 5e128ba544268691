"""`jietong import customers`: CSV (UTF-8, GBK) and XLSX files against a real database.

The command runs as users run it (through Typer, building its own platform from JIETONG_*
settings); assertions read the database through a second platform on the same database.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from jietong.app.cli import importing
from jietong.app.platform import Platform
from jietong.app.settings import Settings
from jietong.core.tenancy import system_actor
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind
from jietong.identity.importer import Column, ColumnMap, cell_text, map_columns, parse_row
from jietong.identity.model import VipTier
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.org import service as org_service
from jietong.storage.tables import ContactPointRow, CustomerRow, OutboxRow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
ZH_CSV = FIXTURES / "customers_zh_utf8.csv"
GBK_CSV = FIXTURES / "customers_gbk.csv"
XLSX = FIXTURES / "customers.xlsx"

# The lead registers importing.app as `jietong import`; the same wiring here.
cli = typer.Typer()
cli.add_typer(importing.app, name="import")


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def org_id(platform: Platform) -> str:
    with platform.uow() as uow:
        return org_service.create_organisation(uow, slug="demo", name="Demo").id


def run_import(settings: Settings, *args: str) -> Result:
    env = {
        "JIETONG_DATA_DIR": str(settings.data_dir),
        "JIETONG_DATABASE_URL": settings.effective_database_url,
        "JIETONG_CONFIG": str(settings.data_dir / "absent.toml"),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(cli, ["import", "customers", *args], env=env)


def totals(result: Result) -> tuple[int, int, int, int]:
    """(rows read, imported, merged, rejected) from the summary table."""
    match = re.search(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│", result.output)
    assert match is not None, result.output
    read, imported, merged, rejected = (int(g) for g in match.groups())
    return read, imported, merged, rejected


def customers(platform: Platform, org_id: str) -> dict[str, CustomerRow]:
    with platform.uow() as uow:
        rows = uow.session.scalars(select(CustomerRow).where(CustomerRow.org_id == org_id))
        return {row.display_name: row for row in rows}


def points_of(platform: Platform, customer_id: str) -> set[tuple[str, str]]:
    with platform.uow() as uow:
        rows = uow.session.scalars(
            select(ContactPointRow).where(ContactPointRow.customer_id == customer_id)
        )
        return {(row.kind, row.value) for row in rows}


def count(platform: Platform, table: type[CustomerRow | ContactPointRow | OutboxRow]) -> int:
    with platform.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(table)) or 0


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def read_report(path: Path) -> dict[int, str]:
    with path.open(encoding="utf-8-sig", newline="") as report:
        return {int(row["row"]): row["reason"] for row in csv.DictReader(report)}


# --- files -------------------------------------------------------------------------------


def test_utf8_csv_with_chinese_headers(
    platform: Platform, settings: Settings, org_id: str, tmp_path: Path
) -> None:
    report = tmp_path / "rejected.csv"

    result = run_import(settings, str(ZH_CSV), "--report", str(report))

    assert result.exit_code == 0, result.output
    assert totals(result) == (8, 3, 1, 4)
    found = customers(platform, org_id)
    assert set(found) == {"张伟", "李娜", "+8613700137000"}
    zhang = found["张伟"]
    assert zhang.company == "华为技术"
    # Row 7 repeats 张伟's number in another spelling: merged, tier raised, tags united.
    assert zhang.vip_tier == VipTier.PLATINUM
    assert zhang.tags == ["VIP", "回访", "重要"]
    assert zhang.attributes == {"城市": "深圳", "备注": "第二次出现"}
    assert points_of(platform, zhang.id) == {
        ("phone", "+8613800138000"),
        ("email", "zhang.wei@example.com"),
    }
    li = found["李娜"]
    assert li.vip_tier == VipTier.SILVER
    assert points_of(platform, li.id) == {("phone", "+8613900139000"), ("phone", "+861065529988")}
    assert li.attributes == {"城市": "北京", "备注": "老客户"}


def test_rejected_rows_carry_row_number_and_reason_and_write_nothing(
    platform: Platform, settings: Settings, org_id: str, tmp_path: Path
) -> None:
    report = tmp_path / "rejected.csv"

    result = run_import(settings, str(ZH_CSV), "--report", str(report))

    assert result.exit_code == 0, result.output
    reasons = read_report(report)
    assert sorted(reasons) == [5, 6, 8, 9]
    assert "phone" in reasons[5] and "12345" in reasons[5]
    assert "neither a name nor a contact point" in reasons[6]
    assert reasons[8].startswith("email:")
    assert reasons[9].startswith("contact points belong to different customers:")
    assert "李娜" in reasons[9] and "张伟" in reasons[9]
    assert "Rejected rows (first 4 of 4)" in result.output
    # Row 8 had a valid phone next to its bad email: no half row was imported.
    with platform.uow() as uow:
        assert (
            identity_service.find_customer_by_contact(
                uow, org_id, ContactKind.PHONE, "13100131000", "CN"
            )
            is None
        )


def test_gbk_csv(platform: Platform, settings: Settings, org_id: str) -> None:
    result = run_import(settings, str(GBK_CSV))

    assert result.exit_code == 0, result.output
    assert totals(result) == (2, 2, 0, 0)
    found = customers(platform, org_id)
    assert set(found) == {"刘洋", "孙丽"}
    assert found["刘洋"].company == "中国移动"
    assert found["刘洋"].tags == ["回访", "投诉"]
    assert found["孙丽"].attributes == {"地区": "上海"}
    assert points_of(platform, found["孙丽"].id) == {
        ("phone", "+862158886666"),
        ("phone", "+8613600136000"),
    }


def test_xlsx_first_sheet_and_numeric_phone_cells(
    platform: Platform, settings: Settings, org_id: str
) -> None:
    result = run_import(settings, str(XLSX))

    assert result.exit_code == 0, result.output
    assert totals(result) == (2, 2, 0, 0)
    found = customers(platform, org_id)
    alice = found["Alice Wong"]
    assert (alice.company, alice.vip_tier, alice.tags) == ("ACME", "gold", ["english", "vip"])
    assert alice.attributes == {"Region": "HK"}
    assert points_of(platform, alice.id) == {
        ("phone", "+8613300133000"),
        ("phone", "+85291234567"),
        ("email", "alice@example.com"),
        ("wechat_openid", "oAbCdEf123456"),
    }
    assert points_of(platform, found["Bob Li"].id) == {("phone", "+8613200132000")}


def test_xlsx_named_sheet(platform: Platform, settings: Settings, org_id: str) -> None:
    result = run_import(settings, str(XLSX), "--sheet", "Leads")

    assert result.exit_code == 0, result.output
    assert set(customers(platform, org_id)) == {"Carol"}


# --- matching ----------------------------------------------------------------------------


def test_merges_into_existing_customer_by_phone_in_another_spelling(
    platform: Platform, settings: Settings, org_id: str, tmp_path: Path
) -> None:
    with platform.uow() as uow:
        existing = identity_service.create_customer(
            uow,
            system_actor(org_id),
            CustomerCreate(
                display_name="张伟",
                company="原公司",
                vip_tier=VipTier.GOLD,
                tags=["old"],
                attributes={"city": "深圳"},
                contact_points=[ContactPointIn(kind=ContactKind.PHONE, value="+86 13800138000")],
            ),
            default_region="CN",
        ).customer
    file = write_csv(
        tmp_path / "one.csv",
        [
            ["name", "company", "phone", "email", "vip", "tags", "city", "source"],
            [
                "Zhang Wei",
                "新公司",
                "138 0013 8000",
                "zw@example.com",
                "silver",
                "new",
                "北京",
                "expo",
            ],
        ],
    )

    result = run_import(settings, str(file))

    assert result.exit_code == 0, result.output
    assert totals(result) == (1, 0, 1, 0)
    found = customers(platform, org_id)
    assert list(found) == ["张伟"]  # a real name is never overwritten
    merged = found["张伟"]
    assert merged.id == existing.id
    assert merged.company == "原公司"  # filled only where empty
    assert merged.vip_tier == VipTier.GOLD  # never lowered
    assert merged.tags == ["new", "old"]
    assert merged.attributes == {"city": "深圳", "source": "expo"}
    assert points_of(platform, merged.id) == {
        ("phone", "+8613800138000"),
        ("email", "zw@example.com"),
    }


def test_rows_of_one_file_sharing_a_phone_become_one_customer(
    platform: Platform, settings: Settings, org_id: str, tmp_path: Path
) -> None:
    file = write_csv(
        tmp_path / "dupes.csv",
        [
            ["手机", "邮箱", "姓名"],
            ["+86 139 0013 9000", "", ""],
            ["13900139000", "li@example.com", "李娜"],
        ],
    )

    result = run_import(settings, str(file))

    assert result.exit_code == 0, result.output
    assert totals(result) == (2, 1, 1, 0)
    found = customers(platform, org_id)
    # The stand-in name from the name-less first row gives way to the real one.
    assert list(found) == ["李娜"]
    assert points_of(platform, found["李娜"].id) == {
        ("phone", "+8613900139000"),
        ("email", "li@example.com"),
    }


def test_importing_the_same_file_again_merges_everything_and_changes_nothing(
    platform: Platform, settings: Settings, org_id: str
) -> None:
    first = run_import(settings, str(ZH_CSV))
    assert first.exit_code == 0, first.output
    before = (count(platform, CustomerRow), count(platform, ContactPointRow))
    events_before = count(platform, OutboxRow)

    again = run_import(settings, str(ZH_CSV))

    assert again.exit_code == 0, again.output
    assert totals(again) == (8, 0, 4, 4)
    assert (count(platform, CustomerRow), count(platform, ContactPointRow)) == before
    assert count(platform, OutboxRow) == events_before  # no-op merges emit no events


def test_dry_run_decides_like_a_real_run_and_writes_nothing(
    platform: Platform, settings: Settings, org_id: str
) -> None:
    result = run_import(settings, str(ZH_CSV), "--dry-run")

    assert result.exit_code == 0, result.output
    assert totals(result) == (8, 3, 1, 4)
    assert "dry run" in result.output
    assert count(platform, CustomerRow) == 0
    assert count(platform, ContactPointRow) == 0
    assert count(platform, OutboxRow) == 1  # only OrganisationCreated from the fixture


def test_dry_run_does_not_merge_into_existing_customers(
    platform: Platform, settings: Settings, org_id: str
) -> None:
    with platform.uow() as uow:
        identity_service.create_customer(
            uow,
            system_actor(org_id),
            CustomerCreate(
                display_name="张伟",
                contact_points=[ContactPointIn(kind=ContactKind.PHONE, value="13800138000")],
            ),
            default_region="CN",
        )
    events_before = count(platform, OutboxRow)

    result = run_import(settings, str(ZH_CSV), "--dry-run")

    assert result.exit_code == 0, result.output
    assert totals(result) == (8, 2, 2, 4)
    zhang = customers(platform, org_id)["张伟"]
    assert (zhang.company, zhang.tags, zhang.vip_tier) == (None, [], VipTier.NONE)
    assert count(platform, ContactPointRow) == 1
    assert count(platform, OutboxRow) == events_before


def test_another_organisation_and_region(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    with platform.uow() as uow:
        hk = org_service.create_organisation(uow, slug="hk-branch", name="HK", default_region="HK")
    file = write_csv(tmp_path / "hk.csv", [["name", "phone"], ["Wong", "9123 4567"]])

    result = run_import(settings, str(file), "--org", "hk-branch")

    assert result.exit_code == 0, result.output
    wong = customers(platform, hk.id)["Wong"]
    assert points_of(platform, wong.id) == {("phone", "+85291234567")}


# --- files that cannot be imported -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("missing.csv", None, [], "no such file"),
        ("notes.txt", b"name,phone\n", [], "unsupported file type"),
        ("cols.csv", "城市,备注\n深圳,x\n".encode(), [], "no name or contact column"),
        ("empty.csv", b"", [], "empty"),
        ("broken.xlsx", b"not a zip file", [], "not a readable XLSX"),
        ("ok.csv", b"name\nA\n", ["--org", "nope"], "no organisation with slug 'nope'"),
        ("ok.csv", b"name\nA\n", ["--region", "XX"], "not a known region"),
        ("ok.csv", b"name\nA\n", ["--sheet", "S"], "XLSX files only"),
        ("ok.csv", b"name\nA\n", ["--report", "/nonexistent/r.csv"], "cannot write the report"),
    ],
)
def test_unusable_input_exits_2_with_a_message(
    platform: Platform,
    settings: Settings,
    org_id: str,
    tmp_path: Path,
    name: str,
    content: bytes | None,
    args: list[str],
    message: str,
) -> None:
    file = tmp_path / name
    if content is not None:
        file.write_bytes(content)

    result = run_import(settings, str(file), *args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert count(platform, CustomerRow) == 0


def test_missing_sheet_exits_2(platform: Platform, settings: Settings, org_id: str) -> None:
    result = run_import(settings, str(XLSX), "--sheet", "Nope")

    assert result.exit_code == 2
    assert "no sheet named 'Nope'" in result.output


# --- parsing (pure) ----------------------------------------------------------------------


def test_header_aliases_are_case_insensitive_and_the_rest_are_attributes() -> None:
    columns = map_columns(["客户名称", "MOBILE", "电话", "WeChat OpenID", "VIP等级", "Remark", ""])

    assert columns == ColumnMap(
        known=(
            (0, Column.NAME),
            (1, Column.PHONE),
            (2, Column.PHONE),
            (3, Column.WECHAT_OPENID),
            (4, Column.VIP_TIER),
        ),
        attributes=((5, "Remark"),),
    )


def test_one_cell_may_hold_several_phones() -> None:
    columns = map_columns(["phone", "tags"])

    row = parse_row(
        2, ["13800138000 / 139-0013-9000；+86 137 0013 7000", "a、 ；b；c, "], columns, "CN"
    )

    assert row.error is None
    assert [p.value for p in row.contact_points] == [
        "+8613800138000",
        "+8613900139000",
        "+8613700137000",
    ]
    assert row.display_name == "+8613800138000"
    assert row.tags == ("a", "b", "c")


@pytest.mark.parametrize(("text", "tier"), [("白金", VipTier.PLATINUM), ("Gold", VipTier.GOLD)])
def test_vip_tiers_in_either_language(text: str, tier: VipTier) -> None:
    row = parse_row(2, ["A", text], map_columns(["name", "vip"]), "CN")

    assert row.vip_tier is tier


def test_unknown_vip_tier_rejects_the_row() -> None:
    row = parse_row(3, ["A", "钻石"], map_columns(["name", "vip"]), "CN")

    assert row.error is not None and "钻石" in row.error


@pytest.mark.parametrize(
    ("value", "text"),
    [(13200132000.0, "13200132000"), (13200132000, "13200132000"), (1.5, "1.5"), (None, "")],
)
def test_numeric_cells_read_as_plain_digits(value: object, text: str) -> None:
    # Some exporters store a phone number as a float; '.0' would make it invalid.
    assert cell_text(value) == text
