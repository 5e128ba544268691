"""Composing an outbound mail: headers that thread, and nothing a customer can inject.

Threading (RFC 5322 §3.6.4): In-Reply-To names the message answered; References is its
References plus its Message-ID; our Message-ID and the Reply-To plus address carry HMAC
tokens (`tokens`), so the customer's answer finds its conversation even when a mail
client drops one of them.

Every text that reaches a header (names, subjects, addresses) passes `single_line`:
a CR or LF in an agent's name or a customer's subject can never start a new header.
Auto-Submitted is set only on automatic messages (acknowledgements), never on an
agent's reply, so that customers' auto-responders stay quiet only where they should.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from jietong.channels.base import OutboundMessage
from jietong.channels.email import tokens
from jietong.channels.email.attachments import safe_filename
from jietong.channels.email.headers import MAX_REFERENCES, parse_message_ids, single_line
from jietong.channels.email.sanitize import sanitise_html

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|回复|回覆|答复|答覆)\s*[:：]", re.IGNORECASE)
_MAX_SUBJECT = 250


class InvalidRecipient(ValueError):
    """The recipient address cannot be written into a mail header (a permanent failure)."""


@dataclass(frozen=True)
class Sender:
    """Our side of a mail: the account's address and the name shown with it."""

    address: str
    name: str | None = None


@dataclass(frozen=True)
class ThreadContext:
    """What the mail answers. `in_reply_to` is the customer's latest Message-ID,
    `references` the thread's ids oldest first; `automatic` marks an acknowledgement."""

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str | None = None
    automatic: bool = False

    @classmethod
    def from_mapping(cls, thread: Mapping[str, str] | None) -> ThreadContext:
        """Read the `thread` data of an OutboundMessage (keys: in_reply_to, references
        (space separated), subject, automatic="true")."""
        data = thread or {}
        return cls(
            in_reply_to=next(iter(parse_message_ids(data.get("in_reply_to"))), None),
            references=parse_message_ids(data.get("references")),
            subject=data.get("subject") or None,
            automatic=data.get("automatic", "").lower() == "true",
        )


@dataclass(frozen=True)
class ComposedEmail:
    message_id: str  # without brackets; the delivery's provider message id
    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes


def compose(
    message: OutboundMessage,
    sender: Sender,
    thread: ThreadContext,
    *,
    secret: bytes,
    now: datetime,
) -> ComposedEmail:
    """The complete mail for `message`; InvalidRecipient if its address or one of its CC
    addresses is unusable."""
    recipient = _recipient(message.recipient.address)
    copied = tuple(dict.fromkeys(_recipient(a) for a in message.cc if a.strip() != recipient))
    domain = sender.address.rpartition("@")[2]
    message_id = tokens.our_message_id(
        secret, message.org_id, message.interaction_id, message.delivery_id, domain
    )
    token = tokens.reply_token(secret, message.org_id, message.interaction_id)
    reply_to = tokens.reply_address(sender.address, token)
    # An internationalised address (张三@例子.中国) is written as UTF-8 (RFC 6532, sent
    # with SMTPUTF8): encoded words are not allowed inside an address.
    ascii_only = all(a.isascii() for a in (sender.address, reply_to, recipient, *copied))
    mail = EmailMessage(policy=SMTP if ascii_only else SMTPUTF8)
    mail["From"] = _mailbox(_from_name(message, sender), sender.address)
    mail["To"] = _mailbox(message.recipient.display_name, recipient)
    if copied:
        mail["Cc"] = [_mailbox(None, address) for address in copied]
    mail["Reply-To"] = _mailbox(sender.name, reply_to)
    mail["Subject"] = _subject(
        message.subject or thread.subject, replying=thread.in_reply_to is not None
    )
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = f"<{message_id}>"
    _threading_headers(mail, thread)
    if thread.automatic:
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office back
    _body(mail, message)
    return ComposedEmail(message_id, sender.address, (recipient, *copied), mail.as_bytes())


def mailbox_address(address: str) -> str:
    """`address` as one bare mailbox fit for a header (trimmed); InvalidRecipient if it
    is not one: a CR or LF, a display name, a list, or anything else a header could
    carry besides one address is refused, never cleaned up."""
    return _recipient(address)


def _recipient(address: str) -> str:
    value = address.strip()
    if single_line(value) != value or value.count("@") != 1 or len(value) > 320:
        raise InvalidRecipient(f"not a single mailbox address: {value[:80]!r}")
    local, _, domain = value.partition("@")
    try:
        HeaderAddress(username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise InvalidRecipient(f"not a valid address: {value[:80]!r}") from exc
    if not local or not domain or any(c in value for c in ' <>(),;:"[]\\'):
        raise InvalidRecipient(f"not a valid address: {value[:80]!r}")
    # Dot-atoms (RFC 5322 3.2.3): no empty part around a dot, or the header would not
    # read back as this address ("a@." comes back as "<>"); no control, format or
    # space characters, which no mail system accepts in an address.
    if any(not part for text in (local, domain) for part in text.split(".")) or any(
        unicodedata.category(c)[0] in "CZ" for c in value
    ):
        raise InvalidRecipient(f"not a valid address: {value[:80]!r}")
    return value


def _mailbox(name: str | None, address: str) -> HeaderAddress:
    """A header mailbox; the policy encodes a non-ASCII name (RFC 2047) itself."""
    local, _, domain = address.rpartition("@")
    return HeaderAddress(
        display_name=single_line(name or "", limit=100), username=local, domain=domain
    )


def _from_name(message: OutboundMessage, sender: Sender) -> str:
    agent = single_line(message.sender_name or "", limit=80)
    account = single_line(sender.name or "", limit=80)
    if agent and account:
        return f"{agent} ({account})"
    return agent or account


def _subject(subject: str | None, *, replying: bool) -> str:
    text = single_line(subject or "", limit=_MAX_SUBJECT)
    if replying and text and not _REPLY_PREFIX.match(text):
        return f"Re: {text}"
    return text


def _threading_headers(mail: EmailMessage, thread: ThreadContext) -> None:
    if thread.in_reply_to is None:
        return
    chain = list(dict.fromkeys((*thread.references, thread.in_reply_to)))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    mail["In-Reply-To"] = f"<{thread.in_reply_to}>"
    mail["References"] = " ".join(f"<{ref}>" for ref in chain)


def _body(mail: EmailMessage, message: OutboundMessage) -> None:
    mail.set_content(message.text, subtype="plain", charset="utf-8")
    # Agents' HTML passes the inbound allow-list too: nothing pasted into a reply can
    # carry scripts or tracking images to a customer.
    rich = sanitise_html(message.html).html if message.html else _html_of(message.text)
    mail.add_alternative(rich, subtype="html", charset="utf-8")
    for number, attachment in enumerate(message.attachments, start=1):
        maintype, _, subtype = attachment.content_type.partition("/")
        if (
            not maintype
            or not subtype
            or single_line(attachment.content_type) != attachment.content_type
        ):
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=safe_filename(attachment.filename, attachment.content_type, number),
        )


def _html_of(text: str) -> str:
    """A minimal HTML twin of a plain reply (escaped; line breaks kept)."""
    body = html.escape(text).replace("\n", "<br>\n")
    return (
        f'<!DOCTYPE html><html><body><div style="white-space:pre-wrap">{body}</div></body></html>'
    )
