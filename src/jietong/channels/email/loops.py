"""Recognising mail that no one typed: auto-replies, bulk mail, bounces and receipts.

Answering such mail is how helpdesks start mail loops with auto-responders (each side
answering the other's "I am out of office" for ever). Mail flagged here is stored but
never answered and never opens a conversation (InboundMessage.auto_generated).

Signals, strongest first: RFC 3834 Auto-Submitted (anything but "no"); a report
(RFC 6522 multipart/report: delivery-status notifications and read receipts); the
null reverse-path of bounces (MAIL FROM:<>, seen as "Return-Path: <>"); Precedence
bulk/junk/list; the vendor headers X-Autoreply / X-Autorespond; and as a last resort
the subject prefixes of well-known auto-responders and bounce senders (mailer-daemon).
X-Auto-Response-Suppress is not a signal: it asks *us* not to auto-reply, and ordinary
system mail carries it too.
"""

from __future__ import annotations

import re
from email.message import Message

from jietong.channels.email.headers import decode_header_value

_SUBJECT_PREFIXES = re.compile(
    r"^\s*(?:automatic\s+reply|auto(?:matic)?[\s-]?reply|auto[\s-]?response|"
    r"out\s+of\s+(?:the\s+)?office|自动回复|自動回覆|自动答复|休假自动回复|"
    r"undeliverable|undelivered\s+mail|delivery\s+status\s+notification|"
    r"mail\s+delivery\s+(?:failed|failure|system)|退信|系统退信)\s*[:：]?",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster)@", re.IGNORECASE)
_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})


def auto_generated_reason(message: Message, envelope_sender: str | None = None) -> str | None:
    """Why `message` was generated automatically, or None if a person wrote it.
    `envelope_sender` is the SMTP MAIL FROM ("" for the null reverse-path), when known."""
    for check in (_auto_submitted, _report, _precedence, _vendor_headers, _subject):
        reason = check(message)
        if reason is not None:
            return reason
    return _bounce_sender(message, envelope_sender)


def _header(message: Message, name: str) -> str:
    return decode_header_value(message.get(name)).lower()


def _auto_submitted(message: Message) -> str | None:
    value = _header(message, "Auto-Submitted").split(";", 1)[0].strip()
    return None if value in ("", "no") else f"auto-submitted: {value[:40]}"


def _report(message: Message) -> str | None:
    if message.get_content_type() != "multipart/report":
        return None
    kind = str(message.get_param("report-type") or "unknown").lower()
    return f"report: {kind[:40]}"


def _precedence(message: Message) -> str | None:
    value = _header(message, "Precedence") or _header(message, "X-Precedence")
    return f"precedence: {value}" if value in _PRECEDENCE else None


def _vendor_headers(message: Message) -> str | None:
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        value = _header(message, name)
        if value and value not in ("no", "false", "0"):
            return f"{name.lower()}: {value[:40]}"
    return None


def _subject(message: Message) -> str | None:
    subject = decode_header_value(message.get("Subject"))
    return "auto-reply subject" if _SUBJECT_PREFIXES.match(subject) else None


def _bounce_sender(message: Message, envelope_sender: str | None) -> str | None:
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "null reverse-path"
    return_path = message.get("Return-Path")
    if return_path is not None and str(return_path).strip().strip("<>").strip() == "":
        return "null reverse-path"
    sender = decode_header_value(message.get("From"))
    match = re.search(r"[\w.+-]+@[\w.-]+", sender)
    if match is not None and _BOUNCE_SENDERS.match(match.group(0)):
        return "from mailer-daemon"
    return None
