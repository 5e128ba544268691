"""Reading header values of real-world mail: RFC 2047 encoded words, raw 8-bit bytes,
addresses and Message-ID lists. Pure; never raises on malformed input.

Messages are parsed with the compat32 policy, which hands header values over undecoded
(raw 8-bit bytes as surrogate escapes), so that charset decisions are made here, with
the label mapping of `charsets` rather than Python's strict codecs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import Header, decode_header
from email.utils import getaddresses

from jietong.channels.email.charsets import decode_text

# Control characters, including CR and LF: a decoded encoded word may carry them, and a
# value copied into outbound headers must never be able to start a new header line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_FOLD = re.compile(r"\r?\n[ \t]+")
_MSG_ID = re.compile(r"<([^<>\s]{1,490})>")
MAX_REFERENCES = 40
# What compat32 returns for a header: a str, a Header (raw 8-bit bytes), or None.
HeaderValue = str | Header | None


@dataclass(frozen=True)
class Address:
    """A mailbox as written in a header: decoded display name and the bare address."""

    name: str | None
    address: str


def decode_header_value(raw: HeaderValue) -> str:
    """The human-readable text of a header value: unfolded, encoded words decoded, raw
    8-bit bytes decoded by guessing, control characters replaced by spaces."""
    value = _unicode(raw)
    if not value:
        return ""
    try:
        parts = decode_header(value)
    except (HeaderParseError, ValueError):
        parts = [(value, None)]
    text = "".join(_part_text(chunk, charset) for chunk, charset in parts)
    return _CONTROL.sub(" ", text).strip()


def parse_addresses(raw: HeaderValue) -> tuple[Address, ...]:
    """The mailboxes in an address header (From, To, Cc, Reply-To); groups flattened,
    entries without a plausible address dropped."""
    value = _unicode(raw)
    if not value:
        return ()
    found: list[Address] = []
    for name, address in getaddresses([value]):
        bare = _CONTROL.sub("", address).strip()
        if "@" not in bare or len(bare) > 320:
            continue
        decoded = decode_header_value(name) if name else ""
        found.append(Address(decoded or None, bare))
    return tuple(found)


def parse_message_ids(raw: HeaderValue) -> tuple[str, ...]:
    """The Message-IDs in a Message-ID, In-Reply-To or References value, without angle
    brackets, in order, duplicates dropped. A long References list keeps its first id
    (the thread's root) and the most recent ones."""
    value = _unicode(raw)
    if not value:
        return ()
    ids = list(dict.fromkeys(_MSG_ID.findall(value)))
    if not ids:
        # Some mailers omit the brackets; accept one bare id that looks like one.
        bare = value.strip()
        if "@" in bare and not any(c.isspace() for c in bare) and len(bare) <= 490:
            ids = [bare]
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return tuple(ids)


def single_line(value: str, *, limit: int = 998) -> str:
    """`value` made safe for one outbound header: CR, LF and other control characters
    become spaces (so no header can be injected), length bounded."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def _unicode(raw: HeaderValue) -> str:
    """The header as text with its encoded words still encoded. compat32 hands a header
    holding raw 8-bit bytes over as a Header of charset "unknown-8bit" (or, elsewhere,
    as a string with surrogate escapes): those bytes are decoded here by guessing."""
    if raw is None:
        return ""
    if isinstance(raw, Header):
        text = "".join(
            decode_text(chunk, None) if isinstance(chunk, bytes) else chunk
            for chunk, _charset in decode_header(raw)
        )
    else:
        text = str(raw)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_text(text.encode("ascii", "surrogateescape"), None)
    return _FOLD.sub(" ", text)


def _part_text(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset is None:
        # decode_header turns unencoded text into bytes with raw-unicode-escape.
        return chunk.decode("raw-unicode-escape", errors="replace")
    return decode_text(chunk, charset)
