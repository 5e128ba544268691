"""`jietong import …`: bulk imports from files. Registered by the CLI root as `import`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import load_settings
from jietong.core.errors import InvalidInput
from jietong.identity.importer import (
    ColumnMap,
    ImportFileError,
    ImportRow,
    ImportSummary,
    RowOutcome,
    Sheet,
    check_region,
    import_rows,
    map_columns,
    parse_rows,
    read_sheet,
)
from jietong.org.service import find_organisation_by_slug
from jietong.storage.migrate import upgrade
from jietong.storage.tables import OrganisationRow

# Exit code for "this import cannot start": bad file, bad options, unknown organisation.
EXIT_UNUSABLE = 2
REJECTIONS_SHOWN = 20

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(help="Import data from files.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Import data from files."""
    # A callback keeps `import` a command group even while it holds a single command.


@app.command("customers")
def customers(
    file: Annotated[Path, typer.Argument(help="A .csv (UTF-8 or GBK) or .xlsx file.")],
    org: Annotated[str, typer.Option(help="Organisation slug.")] = "demo",
    region: Annotated[
        str | None,
        typer.Option(help="Region for phone numbers without +; default: the organisation's."),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="XLSX sheet to read; default: the first.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide every row, write nothing.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write every rejected row (number, reason) to this CSV.")
    ] = None,
) -> None:
    """Import customers, merging rows into existing customers by phone, email or other
    contact point. Exit code 0 when the file was processed, even with rejected rows."""
    table, columns = _read(file, sheet)
    platform = build_platform(load_settings())
    try:
        upgrade(platform.engine)
        organisation = _organisation(platform, org)
        phone_region = _region(region or organisation.default_region)
        rows = parse_rows(table, columns, phone_region)
        report_file = _open_report(report)
        with report_file or nullcontext():
            summary = ImportSummary.of(_run(platform, organisation.id, rows, phone_region, dry_run))
            if report_file is not None:
                _write_report(report_file, summary.rejections)
    finally:
        platform.close()
    _print_summary(file, summary, dry_run=dry_run)
    if report is not None:
        console.print(f"all {summary.rejected} rejected rows written to {escape(str(report))}")


def _read(file: Path, sheet: str | None) -> tuple[Sheet, ColumnMap]:
    # Read before touching the database: a wrong file should cost nothing.
    try:
        table = read_sheet(file, sheet)
        return table, map_columns(table.header)
    except ImportFileError as exc:
        _fail(exc.detail)


def _open_report(report: Path | None) -> TextIO | None:
    # Opened before the first row is applied: an unwritable path stops an import that
    # has not started, instead of losing the rejections of one that has finished.
    if report is None:
        return None
    try:
        # The BOM lets Excel recognise UTF-8 and show Chinese reasons correctly.
        return report.open("w", encoding="utf-8-sig", newline="")
    except OSError as exc:
        _fail(f"cannot write the report {report}: {exc.strerror}")


def _organisation(platform: Platform, slug: str) -> OrganisationRow:
    with platform.uow() as uow:
        organisation = find_organisation_by_slug(uow, slug)
    if organisation is None:
        _fail(f"no organisation with slug '{slug}'")
    return organisation


def _region(region: str) -> str:
    try:
        return check_region(region)
    except InvalidInput as exc:
        _fail(exc.detail)


def _run(
    platform: Platform, org_id: str, rows: Sequence[ImportRow], region: str, dry_run: bool
) -> list[RowOutcome]:
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    applied = import_rows(platform.uow, org_id, rows, region=region, dry_run=dry_run)
    with progress:
        label = "checking rows" if dry_run else "importing rows"
        return list(progress.track(applied, total=len(rows), description=label))


def _print_summary(file: Path, summary: ImportSummary, *, dry_run: bool) -> None:
    title = f"{file.name}{' (dry run: nothing written)' if dry_run else ''}"
    totals = Table("rows read", "imported", "merged", "rejected", title=escape(title))
    totals.add_row(
        str(summary.rows_read), str(summary.imported), str(summary.merged), str(summary.rejected)
    )
    console.print(totals)
    if not summary.rejections:
        return
    shown = summary.rejections[:REJECTIONS_SHOWN]
    rejected = Table(
        "row", "reason", title=f"Rejected rows (first {len(shown)} of {summary.rejected})"
    )
    for outcome in shown:
        rejected.add_row(str(outcome.row_number), escape(outcome.reason or ""))
    console.print(rejected)


def _write_report(out: TextIO, rejections: Sequence[RowOutcome]) -> None:
    writer = csv.writer(out)
    writer.writerow(["row", "reason"])
    writer.writerows([outcome.row_number, outcome.reason or ""] for outcome in rejections)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=EXIT_UNUSABLE)
