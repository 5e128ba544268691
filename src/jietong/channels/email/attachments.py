"""Walking the MIME tree: which parts are the body (plain and HTML) and which are
attachments or inline images, decoded to bytes with safe file names.

A forwarded or bounced mail (message/rfc822) is one attachment: its own text and
attachments are not mixed into the body of the mail that carries it. The walk is
bounded in depth and part count, so a hostile nesting cannot exhaust the process.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from jietong.channels.email.charsets import decode_text
from jietong.channels.email.headers import decode_header_value

MAX_DEPTH = 20
MAX_PARTS = 500
MAX_FILENAME_CHARS = 200
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # controls, bidi overrides
_RESERVED = re.compile(r'[<>:"|?*]')
_BODY_TYPES = frozenset({"text/plain", "text/html"})


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str  # as declared; intake sniffs the bytes itself
    data: bytes
    content_id: str | None  # "cid:" target for inline images, without brackets
    inline: bool


@dataclass(frozen=True)
class Body:
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    defects: int


def collect(message: Message) -> Body:
    """The body texts and the attachments of `message`."""
    texts: list[str] = []
    htmls: list[str] = []
    found: list[ParsedAttachment] = []
    defects = 0
    for part in _leaves(message):
        defects += len(part.defects)
        if _is_body(part):
            target = htmls if part.get_content_type() == "text/html" else texts
            target.append(_decoded_text(part))
        else:
            found.append(_attachment(part, len(found) + 1))
    html = "\n".join(htmls) if htmls else None
    return Body("\n".join(texts), html, tuple(found), defects)


def safe_filename(raw: str, content_type: str, number: int) -> str:
    """A display-safe file name: last path component only, no control or bidi-override
    characters (no "invoice\u202efdp.exe" posing as a PDF), no reserved characters,
    bounded length keeping the extension; a generated name when nothing is left."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    name = _RESERVED.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME_CHARS:
        _stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        name = name[: MAX_FILENAME_CHARS - len(keep) - 1].rstrip() + (f".{keep}" if keep else "")
    if name:
        return name
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"attachment-{number}{extension}"


def _leaves(message: Message) -> Iterator[Message]:
    count = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack and count < MAX_PARTS:
        part, depth = stack.pop()
        payload = part.get_payload()
        is_container = part.is_multipart() and part.get_content_maintype() == "multipart"
        if is_container and depth < MAX_DEPTH and isinstance(payload, list):
            children = [c for c in reversed(payload) if isinstance(c, Message)]
            stack.extend((child, depth + 1) for child in children)
            continue
        count += 1
        yield part


def _is_body(part: Message) -> bool:
    if part.get_content_maintype() == "multipart":
        return True  # a multipart without a usable boundary: its text is all we have
    if part.get_content_type() not in _BODY_TYPES:
        return False
    if part.get_content_disposition() == "attachment":
        return False
    return _filename(part) is None


def _decoded_text(part: Message) -> str:
    data = _payload_bytes(part)
    text = decode_text(data, part.get_content_charset()).replace("\r\n", "\n")
    if str(part.get_param("format") or "").lower() == "flowed":
        text = _unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return text


def _attachment(part: Message, number: int) -> ParsedAttachment:
    content_type = part.get_content_type()
    raw_name = _filename(part) or _subject_name(part) or ""
    content_id = decode_header_value(part.get("Content-ID")).strip("<> ") or None
    return ParsedAttachment(
        filename=safe_filename(raw_name, content_type, number),
        content_type=content_type,
        data=_payload_bytes(part),
        content_id=content_id[:250] if content_id else None,
        inline=part.get_content_disposition() == "inline" or content_id is not None,
    )


def _payload_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message" or part.is_multipart():
        inner = part.get_payload()
        if isinstance(inner, list):
            return b"".join(m.as_bytes() for m in inner if isinstance(m, Message))
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _filename(part: Message) -> str | None:
    try:
        raw = part.get_filename()
    except (LookupError, UnicodeError, ValueError):
        return "attachment"  # a name was given but could not be decoded
    if not raw:
        return None
    # Outlook and Chinese mailers put RFC 2047 words (or raw 8-bit bytes) in filenames.
    return decode_header_value(raw) or None


def _subject_name(part: Message) -> str | None:
    """A name for an attached mail (message/rfc822): its subject + .eml."""
    inner = part.get_payload()
    if part.get_content_type() != "message/rfc822" or not isinstance(inner, list) or not inner:
        return None
    first = inner[0]
    if not isinstance(first, Message):
        return None
    subject = decode_header_value(first.get("Subject")) or "message"
    return f"{subject[:100]}.eml"


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) of equal quote
    depth, and undo space-stuffing. The signature delimiter "-- " is not a soft break."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        line = line.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content
        if joining and out and _depth(out[-1]) == depth:
            out[-1] += content
        else:
            out.append(">" * depth + (" " if depth else "") + content)
        joining = line.endswith(" ") and content != "-- "
        if joining and delsp:
            out[-1] = out[-1][:-1]
    return "\n".join(out)


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(">"))
