"""Importing customers from spreadsheets (CSV, XLSX).

Two halves. Parsing is pure: a file becomes a `Sheet`, its header a `ColumnMap`, each row an
`ImportRow` whose contact points are already normalised (or which carries the reason it
cannot be imported). Applying goes through the identity service, one UnitOfWork per row,
so a bad row never loses the good ones and every change is evented and audited like any
other change.

Row numbers are the ones a spreadsheet shows: the header is row 1 (or the first non-blank
row), blank rows keep their numbers but are not counted as read.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Any

import phonenumbers
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from jietong.core.errors import InvalidInput, JietongError
from jietong.core.tenancy import Actor, system_actor
from jietong.identity.contact_points import ContactKind, normalise
from jietong.identity.model import VipTier
from jietong.identity.schemas import ContactPointIn, CustomerCreate, CustomerUpdate
from jietong.identity.service import (
    CustomerView,
    create_customer,
    enrich_customer,
    find_customer_by_contact,
    get_customer,
    require_customer,
)
from jietong.storage.uow import UnitOfWork

SUPPORTED_SUFFIXES = (".csv", ".xlsx")
# identity.service keeps at most 50 characters of a tag; trimming the same way here makes a
# re-imported tag compare equal to the stored one instead of looking new every time.
_TAG_LIMIT = 50
_PHONE_SEPARATORS = re.compile(r"[;,/；，]")
_EMAIL_SEPARATORS = re.compile(r"[;,；，]")
_TAG_SEPARATORS = re.compile(r"[;,、；，]")


class ImportFileError(InvalidInput):
    """The file as a whole cannot be imported (unreadable, wrong format, no usable header)."""


# --- parsing: file -> sheet --------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """A header and the non-blank rows below it, as trimmed text, with spreadsheet numbers."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


def read_sheet(path: Path, sheet: str | None = None) -> Sheet:
    """Read a CSV or XLSX file; raise ImportFileError saying why when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImportFileError(
            f"{path.name}: unsupported file type '{suffix or '(none)'}'; use .csv or .xlsx"
        )
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if suffix == ".csv":
        if sheet is not None:
            raise ImportFileError("--sheet applies to XLSX files only")
        return sheet_from_rows(csv_records(decode_csv(_read_bytes(path))))
    return sheet_from_rows(_xlsx_records(path, sheet))


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) first; then GB18030, a superset of the GBK that Excel
    uses when saving CSV on Chinese Windows."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("the CSV file is neither UTF-8 nor GBK/GB18030 text")


def csv_records(text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportFileError(f"the CSV file is malformed: {exc}") from None


def sheet_from_rows(records: Iterable[Sequence[object]]) -> Sheet:
    """The first non-blank record is the header; later blank records are skipped."""
    header: tuple[str, ...] | None = None
    rows: list[tuple[int, tuple[str, ...]]] = []
    for number, record in enumerate(records, start=1):
        cells = tuple(cell_text(value) for value in record)
        if not any(cells):
            continue
        if header is None:
            header = cells
        else:
            rows.append((number, cells))
    if header is None:
        raise ImportFileError("the file is empty")
    return Sheet(header, tuple(rows))


def cell_text(value: object) -> str:
    """A cell as trimmed text. Excel stores a phone number typed as a number as a float,
    so integral floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})") from None


def _xlsx_records(path: Path, sheet: str | None) -> list[tuple[object, ...]]:
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError) as exc:
        raise ImportFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            names = ", ".join(workbook.sheetnames)
            raise ImportFileError(f"{path.name}: no sheet named '{sheet}' (sheets: {names})")
        # min_row=1 so that enumerate() yields the row numbers Excel shows.
        return list(worksheet.iter_rows(min_row=1, values_only=True))
    finally:
        workbook.close()


# --- parsing: header -> columns ----------------------------------------------------------


class Column(StrEnum):
    NAME = "name"
    COMPANY = "company"
    PHONE = "phone"
    EMAIL = "email"
    WECHAT_OPENID = "wechat_openid"
    SIP_URI = "sip_uri"
    VIP_TIER = "vip_tier"
    TAGS = "tags"


_ALIASES: dict[str, Column] = {
    **dict.fromkeys(("name", "姓名", "客户名称"), Column.NAME),
    **dict.fromkeys(("company", "公司", "单位"), Column.COMPANY),
    **dict.fromkeys(("phone", "mobile", "电话", "手机", "手机号"), Column.PHONE),
    **dict.fromkeys(("email", "邮箱", "电子邮件"), Column.EMAIL),
    **dict.fromkeys(("wechat_openid", "openid"), Column.WECHAT_OPENID),
    "sip_uri": Column.SIP_URI,
    **dict.fromkeys(("vip_tier", "vip", "vip等级"), Column.VIP_TIER),
    **dict.fromkeys(("tags", "标签"), Column.TAGS),
}
_CONTACT_COLUMNS: dict[Column, ContactKind] = {
    Column.PHONE: ContactKind.PHONE,
    Column.EMAIL: ContactKind.EMAIL,
    Column.WECHAT_OPENID: ContactKind.WECHAT_OPENID,
    Column.SIP_URI: ContactKind.SIP_URI,
}


@dataclass(frozen=True)
class ColumnMap:
    """Which cell index feeds which field; every other titled column is an attribute."""

    known: tuple[tuple[int, Column], ...]
    attributes: tuple[tuple[int, str], ...]


def map_columns(header: Sequence[str]) -> ColumnMap:
    """Map a header row; raise ImportFileError unless a name or contact column exists."""
    known: list[tuple[int, Column]] = []
    attributes: list[tuple[int, str]] = []
    for index, title in enumerate(header):
        column = _ALIASES.get(_header_key(title))
        if column is not None:
            known.append((index, column))
        elif title:
            attributes.append((index, title))
    usable = {Column.NAME, *_CONTACT_COLUMNS}
    if not usable & {column for _, column in known}:
        raise ImportFileError(
            "no name or contact column in the header (expected e.g. name/姓名, phone/手机, "
            f"email/邮箱); found: {', '.join(t for t in header if t) or 'nothing'}"
        )
    return ColumnMap(tuple(known), tuple(attributes))


def _header_key(title: str) -> str:
    # "WeChat OpenID", "wechat-openid" and "WECHAT_OPENID" are the same column.
    return re.sub(r"[\s_-]+", "_", title.strip().casefold())


# --- parsing: cells -> ImportRow ---------------------------------------------------------


@dataclass(frozen=True)
class ContactValue:
    kind: ContactKind
    value: str  # normalised

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.value)


@dataclass(frozen=True)
class ImportRow:
    """One parsed data row. `error` set means the row is rejected as a whole."""

    row_number: int
    name: str | None = None
    company: str | None = None
    vip_tier: VipTier | None = None
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    contact_points: tuple[ContactValue, ...] = ()
    error: str | None = None

    @property
    def display_name(self) -> str:
        """The name, or for a name-less row its first contact value."""
        if self.name:
            return self.name
        return self.contact_points[0].value if self.contact_points else ""


def parse_rows(sheet: Sheet, columns: ColumnMap, region: str) -> list[ImportRow]:
    return [parse_row(number, cells, columns, region) for number, cells in sheet.rows]


def parse_row(row_number: int, cells: Sequence[str], columns: ColumnMap, region: str) -> ImportRow:
    """Parse one row; any invalid value rejects the whole row, never half of it."""
    try:
        return _parse_row(row_number, cells, columns, region)
    except InvalidInput as exc:
        return ImportRow(row_number, error=exc.detail)


def _parse_row(row_number: int, cells: Sequence[str], columns: ColumnMap, region: str) -> ImportRow:
    values = _values_by_column(cells, columns)
    points = _contact_points(values, region)
    name = _first(values.get(Column.NAME))
    if name is None and not points:
        raise InvalidInput("neither a name nor a contact point")
    return ImportRow(
        row_number=row_number,
        name=name,
        company=_first(values.get(Column.COMPANY)),
        vip_tier=_vip_tier(_first(values.get(Column.VIP_TIER))),
        tags=_tags(values.get(Column.TAGS, [])),
        attributes=_attributes(cells, columns),
        contact_points=points,
    )


def _values_by_column(cells: Sequence[str], columns: ColumnMap) -> dict[Column, list[str]]:
    values: dict[Column, list[str]] = {}
    for index, column in columns.known:
        text = cells[index] if index < len(cells) else ""
        if text:
            values.setdefault(column, []).append(text)
    return values


def _contact_points(values: Mapping[Column, list[str]], region: str) -> tuple[ContactValue, ...]:
    points: dict[tuple[str, str], ContactValue] = {}
    for column, kind in _CONTACT_COLUMNS.items():
        for text in values.get(column, []):
            for piece in _split_contact(kind, text):
                point = ContactValue(kind, normalise(kind, piece, region))
                # Two spellings of one number in one row are one contact point.
                points.setdefault(point.key, point)
    return tuple(points.values())


def _split_contact(kind: ContactKind, text: str) -> list[str]:
    # SIP URIs carry ';' parameters and openids are single tokens, so only phones and
    # emails hold several values per cell.
    separators = {ContactKind.PHONE: _PHONE_SEPARATORS, ContactKind.EMAIL: _EMAIL_SEPARATORS}
    pattern = separators.get(kind)
    pieces = pattern.split(text) if pattern is not None else [text]
    return [piece.strip() for piece in pieces if piece.strip()]


_VIP_NAMES: dict[str, VipTier] = {
    **{tier.value: tier for tier in VipTier},
    "普通": VipTier.NONE,
    "银卡": VipTier.SILVER,
    "金卡": VipTier.GOLD,
    "白金": VipTier.PLATINUM,
    "白金卡": VipTier.PLATINUM,
}


def _vip_tier(text: str | None) -> VipTier | None:
    if text is None:
        return None
    tier = _VIP_NAMES.get(text.casefold())
    if tier is None:
        raise InvalidInput(
            f"vip_tier: '{text}' is not one of none/silver/gold/platinum (普通/银卡/金卡/白金)"
        )
    return tier


def _tags(cells: Sequence[str]) -> tuple[str, ...]:
    tags = {
        piece.strip()[:_TAG_LIMIT]
        for text in cells
        for piece in _TAG_SEPARATORS.split(text)
        if piece.strip()
    }
    return tuple(sorted(tags))


def _attributes(cells: Sequence[str], columns: ColumnMap) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for index, title in columns.attributes:
        text = cells[index] if index < len(cells) else ""
        if text:
            # Two columns with one title: the first non-empty cell wins.
            attributes.setdefault(title, text)
    return attributes


def _first(texts: Sequence[str] | None) -> str | None:
    return texts[0] if texts else None


def check_region(region: str) -> str:
    """The upper-cased region code, or InvalidInput when phonenumbers does not know it."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"region: '{region}' is not a known region code (e.g. CN, HK, US)")
    return code


# --- applying ----------------------------------------------------------------------------


class Outcome(StrEnum):
    IMPORTED = "imported"
    MERGED = "merged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class RowOutcome:
    row_number: int
    outcome: Outcome
    customer_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ImportSummary:
    rows_read: int
    imported: int
    merged: int
    rejected: int
    rejections: tuple[RowOutcome, ...]

    @classmethod
    def of(cls, outcomes: Sequence[RowOutcome]) -> ImportSummary:
        def count(kind: Outcome) -> int:
            return sum(1 for o in outcomes if o.outcome is kind)

        return cls(
            rows_read=len(outcomes),
            imported=count(Outcome.IMPORTED),
            merged=count(Outcome.MERGED),
            rejected=count(Outcome.REJECTED),
            rejections=tuple(o for o in outcomes if o.outcome is Outcome.REJECTED),
        )


UnitOfWorkFactory = Callable[[], UnitOfWork]
# Contact point (kind, value) -> id of the customer this run gave it to. In a dry run
# nothing is written, so this is what lets a later row of the file see an earlier one.
_Claims = dict[tuple[str, str], str]
# The stand-in id a dry run gives a customer it would create.
_DRY_RUN_PREFIX = "dry-run:row-"


def import_rows(
    new_uow: UnitOfWorkFactory,
    org_id: str,
    rows: Iterable[ImportRow],
    *,
    region: str,
    dry_run: bool = False,
) -> Iterator[RowOutcome]:
    """Apply `rows` in order, yielding each row's outcome once its changes are committed.

    A row whose contact points belong to no customer creates one; to exactly one customer
    merges into it; to several is rejected. A dry run makes the same decisions and writes
    nothing. No transaction is open while the caller holds a yielded outcome.
    """
    actor = system_actor(org_id)
    claims: _Claims = {}
    for row in rows:
        outcome = _apply_row(new_uow, actor, row, region=region, dry_run=dry_run, claims=claims)
        if outcome.customer_id is not None:
            claims.update(dict.fromkeys((p.key for p in row.contact_points), outcome.customer_id))
        yield outcome


def _apply_row(
    new_uow: UnitOfWorkFactory,
    actor: Actor,
    row: ImportRow,
    *,
    region: str,
    dry_run: bool,
    claims: _Claims,
) -> RowOutcome:
    if row.error is not None:
        return _rejected(row, row.error)
    with new_uow() as uow:
        try:
            return _decide_and_write(uow, actor, row, region, dry_run, claims)
        except JietongError as exc:
            return _rejected(row, exc.detail)
        except ValidationError as exc:
            return _rejected(row, _validation_reason(exc))


def _decide_and_write(
    uow: UnitOfWork, actor: Actor, row: ImportRow, region: str, dry_run: bool, claims: _Claims
) -> RowOutcome:
    owners = _owners(uow, actor.org_id, row, region, claims)
    distinct = sorted(set(owners.values()))
    if len(distinct) > 1:
        described = ", ".join(
            f"{value} → {_owner_label(uow, actor.org_id, owner)}" for value, owner in owners.items()
        )
        return _rejected(row, f"contact points belong to different customers: {described}")
    if not distinct:
        payload = customer_create(row)  # validated even in a dry run
        if dry_run:
            return RowOutcome(
                row.row_number, Outcome.IMPORTED, f"{_DRY_RUN_PREFIX}{row.row_number}"
            )
        view = create_customer(uow, actor, payload, default_region=region)
        return RowOutcome(row.row_number, Outcome.IMPORTED, view.customer.id)
    customer_id = distinct[0]
    if not customer_id.startswith(_DRY_RUN_PREFIX):
        _merge(uow, actor, customer_id, row, region, dry_run=dry_run)
    return RowOutcome(row.row_number, Outcome.MERGED, customer_id)


def _owners(
    uow: UnitOfWork, org_id: str, row: ImportRow, region: str, claims: _Claims
) -> dict[str, str]:
    """Contact value -> id of the customer already holding it, for the row's held points."""
    owners: dict[str, str] = {}
    for point in row.contact_points:
        owner = claims.get(point.key)
        if owner is None:
            found = find_customer_by_contact(uow, org_id, point.kind, point.value, region)
            owner = None if found is None else found.id
        if owner is not None:
            owners[point.value] = owner
    return owners


def _owner_label(uow: UnitOfWork, org_id: str, customer_id: str) -> str:
    # Operators fixing the file know customers by name; the id makes the name unambiguous.
    if customer_id.startswith(_DRY_RUN_PREFIX):
        return f"the customer from row {customer_id.removeprefix(_DRY_RUN_PREFIX)}"
    name = require_customer(uow, org_id, customer_id).display_name
    return f"{name} ({customer_id})"


def _merge(
    uow: UnitOfWork, actor: Actor, customer_id: str, row: ImportRow, region: str, *, dry_run: bool
) -> None:
    """Add the row's new contact points and the field changes in one transaction."""
    view = get_customer(uow, actor, customer_id)
    update = merge_update(view, row)
    if dry_run:
        return
    held = {(p.kind, p.value) for p in view.contact_points}
    new_points = [
        ContactPointIn(kind=point.kind, value=point.value)
        for point in row.contact_points
        if point.key not in held
    ]
    if new_points or update is not None:
        enrich_customer(
            uow, actor, customer_id, new_points=new_points, update=update, default_region=region
        )


def customer_create(row: ImportRow) -> CustomerCreate:
    attributes: dict[str, str | int | float | bool | None] = dict(row.attributes)
    return CustomerCreate(
        display_name=row.display_name,
        company=row.company,
        vip_tier=row.vip_tier or VipTier.NONE,
        tags=list(row.tags),
        attributes=attributes,
        contact_points=[ContactPointIn(kind=p.kind, value=p.value) for p in row.contact_points],
    )


def merge_update(current: CustomerView, row: ImportRow) -> CustomerUpdate | None:
    """What merging `row` changes on an existing customer, or None when nothing.

    Existing data wins: company and attributes are filled only where empty, tags are a
    union, the VIP tier only rises. The name is replaced only when it is a stand-in
    (a contact value given to a name-less row earlier).
    """
    customer = current.customer
    changes: dict[str, Any] = {}
    if row.company and not customer.company:
        changes["company"] = row.company
    if not set(row.tags) <= set(customer.tags):
        changes["tags"] = sorted({*customer.tags, *row.tags})
    missing = {k: v for k, v in row.attributes.items() if customer.attributes.get(k) in (None, "")}
    if missing:
        changes["attributes"] = {**customer.attributes, **missing}
    if row.vip_tier is not None and _rank(row.vip_tier) > _rank(VipTier(customer.vip_tier)):
        changes["vip_tier"] = row.vip_tier
    if row.name and customer.display_name in {p.value for p in current.contact_points}:
        changes["display_name"] = row.name
    return CustomerUpdate.model_validate(changes) if changes else None


def _rank(tier: VipTier) -> int:
    # VipTier is declared from lowest to highest.
    return list(VipTier).index(tier)


def _rejected(row: ImportRow, reason: str) -> RowOutcome:
    return RowOutcome(row.row_number, Outcome.REJECTED, reason=reason)


def _validation_reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
