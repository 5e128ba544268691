"""Re-sealing the secrets at rest (ADR 0016): after a key rotation, and once for the
plaintext values an installation stored before secrets were sealed.

Both walk every channel account and SIP trunk of every organisation in one transaction,
so a failure (a value no configured key opens) changes nothing. Each organisation whose
rows were rewritten gets an audit entry with the counts, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from jietong.channels import store as channels_store
from jietong.channels.accounts import account_secrets
from jietong.core.tenancy import system_actor
from jietong.storage.secretbox import SecretBox
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.tables_sip import SipTrunkRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.sip import store as sip_store

log = logging.getLogger(__name__)


@dataclass
class Resealed:
    """How many rows were rewritten, by kind and by organisation."""

    channel_accounts: int = 0
    sip_trunks: int = 0
    by_org: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.channel_accounts + self.sip_trunks

    def _count(self, org_id: str, kind: str) -> None:
        counts = self.by_org.setdefault(org_id, {"channel_accounts": 0, "sip_trunks": 0})
        counts[kind] += 1
        setattr(self, kind, getattr(self, kind) + 1)


def rotate(
    uow: UnitOfWork,
    *,
    started: Callable[[int], None] | None = None,
    advanced: Callable[[], None] | None = None,
) -> Resealed:
    """Re-seal every stored secret (sealed or still plaintext) with the first key, so the
    other keys can be dropped afterwards. `UndecryptableSecret` (naming the account or
    trunk) if a value opens with no key; then nothing is written. `started(total)` and
    `advanced()` report progress."""
    return _reseal(uow, "rotate", _open_and_seal, started, advanced)


def seal_plaintext(uow: UnitOfWork) -> Resealed:
    """Seal the values still stored in plaintext (from before sealing); sealed values are
    left as they are, so this opens nothing and needs no old key. Idempotent: a second
    run rewrites nothing. Run at start-up, after the migrations."""
    return _reseal(uow, "plaintext", _seal_plaintext, None, None)


def _reseal(
    uow: UnitOfWork,
    reason: str,
    reseal_one: Callable[[SecretBox, ChannelAccountRow | SipTrunkRow], bool],
    started: Callable[[int], None] | None,
    advanced: Callable[[], None] | None,
) -> Resealed:
    box = uow.secrets
    accounts = channels_store.all_accounts_for_update(uow.session)
    trunks = sip_store.all_trunks_for_update(uow.session)
    if started is not None:
        started(len(accounts) + len(trunks))
    done = Resealed()
    rows: list[ChannelAccountRow | SipTrunkRow] = [*accounts, *trunks]
    for row in rows:
        if reseal_one(box, row):
            kind = "channel_accounts" if isinstance(row, ChannelAccountRow) else "sip_trunks"
            done._count(row.org_id, kind)
        if advanced is not None:
            advanced()
    for org_id, counts in sorted(done.by_org.items()):
        uow.audit(
            system_actor(org_id),
            "secrets.resealed",
            "organisation",
            org_id,
            {"reason": reason, **counts},
        )
    uow.commit()
    if done.total:
        log.info(
            "secrets re-sealed (%s): %d channel accounts, %d SIP trunks",
            reason,
            done.channel_accounts,
            done.sip_trunks,
        )
    return done


def _open_and_seal(box: SecretBox, row: ChannelAccountRow | SipTrunkRow) -> bool:
    if isinstance(row, ChannelAccountRow):
        if not row.secrets:
            return False
        row.secrets = box.seal_values(account_secrets(row, box))
        return True
    password = sip_store.trunk_password(row, box)
    if password is None:
        return False
    row.password = box.seal(password)
    return True


def _seal_plaintext(box: SecretBox, row: ChannelAccountRow | SipTrunkRow) -> bool:
    if isinstance(row, ChannelAccountRow):
        if all(box.is_sealed(v) for v in row.secrets.values()):
            return False
        row.secrets = {
            name: value if box.is_sealed(value) else box.seal(str(value))
            for name, value in row.secrets.items()
        }
        return True
    if row.password is None or box.is_sealed(row.password):
        return False
    row.password = box.seal(row.password)
    return True
