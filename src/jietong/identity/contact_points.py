"""Normalising contact points, so that one person's phone or email always matches.

Pure functions: phone numbers become E.164 (with the organisation's default region for
numbers written without +), emails are lower-cased after IDNA-safe validation, SIP URIs
lose their parameters, WeChat openids and chat visitor ids are kept as given.
"""

from __future__ import annotations

import re
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from jietong.core.errors import InvalidInput


class ContactKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT_VISITOR = "chat_visitor"
    WECHAT_OPENID = "wechat_openid"
    SIP_URI = "sip_uri"


_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_VISITOR = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_SIP = re.compile(r"^sips?:([^@;>\s]+@)?[A-Za-z0-9.\-\[\]:]+$")


def normalise(kind: ContactKind, raw: str, default_region: str = "CN") -> str:
    """Return the canonical form of `raw`, or raise InvalidInput saying why it is not one."""
    value = raw.strip()
    if not value:
        raise InvalidInput(f"{kind.value}: empty value")
    match kind:
        case ContactKind.PHONE:
            return normalise_phone(value, default_region)
        case ContactKind.EMAIL:
            return normalise_email(value)
        case ContactKind.SIP_URI:
            return normalise_sip_uri(value)
        case ContactKind.WECHAT_OPENID:
            if not _OPENID.match(value):
                raise InvalidInput("wechat_openid: not a WeChat openid")
            return value
        case ContactKind.CHAT_VISITOR:
            if not _VISITOR.match(value):
                raise InvalidInput("chat_visitor: not a visitor id")
            return value
    raise InvalidInput(f"unknown contact kind {kind}")  # pragma: no cover - enum exhausted


def normalise_phone(value: str, default_region: str) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"phone: cannot read '{value}' as a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"phone: '{value}' is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"email: {exc}") from None
    return result.normalized.lower()


def normalise_sip_uri(value: str) -> str:
    uri = value.strip("<>").split(";", 1)[0]
    if not _SIP.match(uri):
        raise InvalidInput(f"sip_uri: '{value}' is not a SIP URI")
    scheme, rest = uri.split(":", 1)
    if "@" in rest:
        user, host = rest.rsplit("@", 1)
        return f"{scheme.lower()}:{user}@{host.lower()}"
    return f"{scheme.lower()}:{rest.lower()}"


def try_normalise(kind: ContactKind, raw: str, default_region: str) -> str | None:
    """Like `normalise`, but None instead of an error (searching, suggesting)."""
    try:
        return normalise(kind, raw, default_region)
    except InvalidInput:
        return None
