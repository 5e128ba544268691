"""Separating the new text of a reply from the quoted history and the signature.

Agents read the new text; the quoted part is kept (InboundMessage.quoted_text) but
folded away. The cut is made at the first line that starts quoted history in one of the
styles mail clients really use, in English and Chinese:

- Gmail / Apple Mail / Thunderbird: "On <date>, <name> wrote:" (may wrap over two
  lines), Chinese Gmail "<name> 于2024年3月1日周五 10:00写道：", Apple Mail
  "在 2024年3月1日，10:00，<name> 写道：";
- Outlook: "-----Original Message-----", or an underscore rule followed by a header
  block "From: / Sent: / To: / Subject:" (Chinese Outlook: "发件人: / 发送时间: / 收件人: /
  主题:");
- QQ Mail / Foxmail: "------------------ 原始邮件 ------------------" or
  "------------------ Original ------------------" then "发件人: / From:";
- NetEase: "---- 回复的原邮件 ----", "---- Replied Message ----";
- a trailing block of "> " lines.

Signatures are cut at the RFC 3676 delimiter "-- " and at mobile footers ("Sent from my
iPhone", "发自我的iPhone"). Pure: text in, two texts out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATOR_LINES = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:original\s+message|原始邮件|原始郵件|原邮件|回复的原邮件|replied\s+message|
                 forwarded\s+message|转发邮件|original)\s*-{2,}
      | ={3,}\s*(?:原始邮件|original\s+message)\s*={3,}
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Outlook's rule above its header block; on its own just decoration, so it counts only
# when a "From:" line follows.
_RULE = re.compile(r"^\s*(?:_{10,}|-{10,}|={10,})\s*$")
# "On Mon, 4 Mar 2024 at 10:02, Wang <w@x.cn> wrote:" — possibly wrapped; the date part
# is free text, so the pattern anchors on "On" at the line start and "wrote:" at the end.
_ON_WROTE = re.compile(r"^\s*on\b.{4,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL)
# Chinese: "在 2024年3月4日 星期一 10:02，王芳 <w@x.cn> 写道：" and Gmail's
# "王芳 <w@x.cn> 于2024年3月4日周一 10:02写道：".
_ZH_WROTE = re.compile(r"^\s*(?:在.{2,200}|.{1,200}[于於].{2,200})[写寫]道\s*[:：]\s*$", re.DOTALL)
_HEADER_KEYS = re.compile(
    r"^\s*[*>]?\s*(from|sent|date|to|cc|subject|发件人|发送时间|日期|时间|收件人|抄送|主题|"
    r"寄件者|寄件日期|收件者|副本|主旨|發件人|發送時間|收件人|主題)"
    r"\s*[:：]",
    re.IGNORECASE,
)
_FROM_KEY = re.compile(r"^\s*[*>]?\s*(from|发件人|寄件者|發件人)\s*[:：]", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"""^\s*(?:
        --\s?
      | (?:sent|get)\s+(?:from|with)\s+(?:my\s+)?(?:iphone|ipad|android|mobile|huawei|
            xiaomi|samsung|outlook\s+for|mail\s+for|blackberry).*
      | 发自我的\s*\S.*
      | 发自\s*(?:网易邮箱|QQ邮箱|我的|手机|Outlook|移动版|企业微信).*
      | 来自\s*(?:网易邮箱|QQ邮箱|我的|手机)\S*.*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_QUOTED = re.compile(r"^\s*>")
_TIME = re.compile(r"\d{1,2}[:：]\d{2}")
_HEADER_BLOCK_LINES = 6


@dataclass(frozen=True)
class SplitReply:
    """The new text, and what followed it (quoted history, signature), both stripped."""

    text: str
    quoted: str | None


def split_reply(body: str) -> SplitReply:
    """Split `body` at the first line that starts quoted history or a signature. A body
    that is nothing but quotation keeps it all as text (an agent must see something)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _first_cut(lines)
    if cut is None:
        return SplitReply(body.strip(), None)
    new = "\n".join(lines[:cut]).strip()
    rest = "\n".join(lines[cut:]).strip()
    if not new:
        return SplitReply(rest, None)
    return SplitReply(new, rest or None)


def _first_cut(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if _starts_history(lines, index) or _SIGNATURE.match(line):
            return index
    return _trailing_quote_block(lines)


def _starts_history(lines: list[str], index: int) -> bool:
    line = lines[index]
    if not line.strip():
        return False
    if _SEPARATOR_LINES.match(line):
        return True
    if _RULE.match(line):
        following = next((x for x in lines[index + 1 :] if x.strip()), "")
        return _FROM_KEY.match(following) is not None
    # Clients wrap long attribution lines, so a line may need its successor.
    candidates = [line]
    if index + 1 < len(lines) and _may_wrap_attribution(line):
        candidates.append(f"{line} {lines[index + 1]}")
    for candidate in candidates:
        if _ON_WROTE.match(candidate) and candidate.lstrip().lower().startswith("on "):
            return True
        if _ZH_WROTE.match(candidate) and _names_a_moment_or_sender(candidate):
            return True
    return _FROM_KEY.match(line) is not None and _is_header_block(lines, index)


def _may_wrap_attribution(line: str) -> bool:
    stripped = line.lstrip().lower()
    if "wrote" in stripped or "写道" in stripped or "寫道" in stripped:
        return False
    return (
        stripped.startswith(("on ", "在"))
        or "于" in stripped
        or "於" in stripped
        or "@" in stripped
    )


def _names_a_moment_or_sender(line: str) -> bool:
    """Attribution lines carry a time or an address; a sentence merely ending in "写道："
    ("正如我在上封邮件中写道：") carries neither and is not cut."""
    return "@" in line or _TIME.search(line) is not None


def _is_header_block(lines: list[str], index: int) -> bool:
    """A "From:" line followed by at least two more header-like lines: an Outlook or QQ
    Mail header block, not a sentence that happens to start with "From:"."""
    window = lines[index + 1 : index + _HEADER_BLOCK_LINES]
    return sum(1 for line in window if _HEADER_KEYS.match(line)) >= 2


def _trailing_quote_block(lines: list[str]) -> int | None:
    """The start of a block of "> " lines that runs (blank lines aside) to the end."""
    start = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _QUOTED.match(line):
            start = index
        elif line.strip():
            break
    return start
