"""Decoding bytes of real-world mail into text, whatever charset label they carry.

Chinese mail is the reason this module exists: Outlook and Foxmail label GBK text as
"gb2312" although it contains characters GB2312 lacks (e.g. 镕, 喆, 珺), and Taiwanese and
Hong Kong senders label Big5 text that uses Microsoft or HKSCS extensions. Decoding by
the label with Python's strict codecs would lose those characters, so labels are mapped
to the superset codec that decodes every byte sequence the label is used for in practice.

A label is trusted while its codec decodes the bytes. UTF-8 text mislabelled as GB2312
cannot be told apart that way (GB18030 decodes nearly any bytes), and a "valid UTF-8
wins" rule misreads short GBK text that happens to be valid UTF-8 (丝丝为 is), so the
label wins: mislabelled UTF-8 is the rarer mistake.
"""

from __future__ import annotations

import codecs

# Label (lower-case, as declared) -> the codec that decodes what senders really send.
_SUPERSETS = {
    # GB2312 and GBK are subsets of GB18030; GB18030 decodes every GBK byte sequence.
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "hz-gb-2312": "hz",
    # Big5 in the wild is Microsoft's cp950 (with its extensions) or Big5-HKSCS.
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cp950": "cp950",
    # Korean and Japanese labels with the same "subset label" habit.
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    # Latin-1 labels usually mean Windows-1252 (curly quotes in 0x80-0x9f).
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
}
# Labels that say nothing about 8-bit bytes: such bytes are guessed, not trusted to them.
_WEAK = frozenset({"us-ascii", "ascii", "unknown-8bit", "x-unknown", "default"})

# Tried in order when no label is given or the label is unknown: UTF-8 is strict enough
# to fail on other encodings, GB18030 decodes most remaining Chinese mail.
_GUESSES = ("utf-8", "gb18030", "cp1252")


def codec_for(label: str | None) -> str | None:
    """The Python codec to decode text labelled `label`, or None if unknown or absent."""
    if not label:
        return None
    # RFC 2231 allows a language suffix: "utf-8*zh-cn".
    name = label.strip().strip("\"'").split("*", 1)[0].lower()
    if name in _WEAK:
        return None
    if name in _SUPERSETS:
        return _SUPERSETS[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, label: str | None) -> str:
    """Decode `data` labelled `label`. Never raises: falls back to guessing, and as a
    last resort replaces undecodable bytes (a mail is never dropped for its charset)."""
    codec = codec_for(label)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass  # mislabelled: guess below
    for guess in _GUESSES:
        try:
            return data.decode(guess)
        except UnicodeDecodeError:
            continue
    return data.decode(codec or "utf-8", errors="replace")
