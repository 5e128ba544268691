"""Prompts: text spoken by espeak-ng (cached), uploaded WAV files, and the queue's
position and wait announcements with numbers spoken properly in both languages.

Generated prompts are stored as 8 kHz mono 16-bit WAV (the media engine's rate, so its
loader has nothing to convert) under ``<cache_dir>/tts/<sha256 of voice and text>.wav``;
the same text in the same voice is generated once. The cache directory must lie inside
the media root, because the media engine only loads files from there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import wave
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final

from jietong.telephony.ivr.schema import PLACEHOLDER, Prompt
from jietong.telephony.media import prompts as media_prompts

VOICES: Final[Mapping[str, str]] = {"zh-CN": "cmn", "en": "en"}
# espeak-ng reads its text from argv: keep it bounded (a flow's prompt is at most 1000).
_MAX_TEXT = 2000


class PromptUnavailable(Exception):
    """A prompt could not be produced (no text or file for the language, espeak-ng
    failed, an uploaded file is missing)."""


# (org_id, name, language) -> the uploaded prompt's file in the media root, or None.
# `ivr.service.materialise_prompt` is the database side of it.
UploadedLookup = Callable[[str, str, str], Awaitable[Path | None]]


class PromptLibrary:
    """Turns a flow's `Prompt` into a WAV path for one language. Uploaded prompts belong
    to an organisation: resolve them through ``for_org(org_id)``."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        uploaded: UploadedLookup | None = None,
        espeak: str = "espeak-ng",
        org_id: str | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self._uploaded = uploaded
        self._espeak = espeak
        self.org_id = org_id

    def for_org(self, org_id: str) -> PromptLibrary:
        """The same library, resolving uploaded prompts of ``org_id``."""
        return PromptLibrary(
            self.cache_dir, uploaded=self._uploaded, espeak=self._espeak, org_id=org_id
        )

    async def resolve(self, prompt: Prompt, language: str, variables: Mapping[str, str]) -> Path:
        """The prompt's file for ``language`` (the flow's first language as fallback is
        the caller's choice: here a missing language is an error)."""
        if language in prompt.file and self._uploaded is not None and self.org_id is not None:
            path = await self._uploaded(self.org_id, prompt.file[language], language)
            if path is None:
                raise PromptUnavailable(f"uploaded prompt {prompt.file[language]!r} not found")
            return path
        text = next((t for lang, t in prompt.text.items() if lang == language), None)
        if text is None:
            raise PromptUnavailable(f"no prompt for {language}")
        return await self.speak(fill(text, variables), language)

    async def speak(self, text: str, language: str) -> Path:
        """The WAV of ``text`` spoken in ``language`` (generated once, then cached)."""
        voice = VOICES.get(language)
        if voice is None:
            raise PromptUnavailable(f"no voice for {language}")
        if not text.strip() or len(text) > _MAX_TEXT:
            raise PromptUnavailable("prompt text is empty or too long")
        target = self.cache_dir / "tts" / f"{tts_key(text, voice)}.wav"
        if not target.exists():
            await self._generate(text, voice, target)
        return target

    async def _generate(self, text: str, voice: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            raw = Path(work) / "raw.wav"
            # "--" ends options, so a text starting with "-" is spoken, not parsed.
            try:
                process = await asyncio.create_subprocess_exec(
                    self._espeak, "-v", voice, "-w", str(raw), "--", text,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
            except OSError as exc:
                raise PromptUnavailable(f"cannot run {self._espeak}: {exc}") from exc
            _, err = await process.communicate()
            if process.returncode != 0 or not raw.exists():
                raise PromptUnavailable(f"espeak-ng failed: {err.decode(errors='replace')[:200]}")
            converted = Path(work) / "8k.wav"
            await asyncio.to_thread(convert_to_8k_mono, raw, converted)
            # Rename is atomic: a concurrent reader sees no file or the whole file.
            os.replace(converted, target)


def tts_key(text: str, voice: str) -> str:
    return hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()


def convert_to_8k_mono(source: Path, target: Path) -> float:
    """Write ``source`` (any PCM WAV) as 8 kHz mono 16-bit; returns seconds. Raises
    media_prompts.PromptError for a file that is not PCM WAV."""
    samples = media_prompts.read_wav(source)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(media_prompts.RATE)
        out.writeframes(samples.astype("<i2").tobytes())
    return len(samples) / media_prompts.RATE


def fill(text: str, variables: Mapping[str, str]) -> str:
    """Replace ``{name}`` with the variable's value (empty when unset)."""
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), ""), text)


# -- numbers and announcements -------------------------------------------------------------

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ((1000, "千"), (100, "百"), (10, "十"))
_EN_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def zh_number(n: int, *, counting: bool = False) -> str:
    """A number 0..99,999,999 in Chinese words: 10 十, 12 十二, 105 一百零五, 2,003 两千零三,
    10,000 一万. ``counting`` (before a measure word: 两位, 两分钟) says 2 as 两."""
    if not 0 <= n < 100_000_000:
        raise ValueError("number out of range")
    if n == 2 and counting:
        return "两"
    if n < 10_000:
        return _zh_below_10k(n, leading=True)
    high, low = divmod(n, 10_000)
    text = _zh_below_10k(high, leading=True) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _zh_below_10k(low, leading=False)
    return text


def _zh_below_10k(n: int, *, leading: bool) -> str:
    if n == 0:
        return _ZH_DIGITS[0]
    if leading and 10 <= n < 20:
        return "十" + (_ZH_DIGITS[n - 10] if n > 10 else "")
    parts: list[str] = []
    zero = False
    for unit, name in _ZH_UNITS:
        digit, n = divmod(n, unit)
        if digit:
            if zero:
                parts.append("零")
            parts.append(("两" if digit == 2 and unit >= 1000 else _ZH_DIGITS[digit]) + name)
            zero = False
        elif parts:
            zero = True
    if n:
        parts.append(("零" if zero else "") + _ZH_DIGITS[n])
    return "".join(parts)


def en_number(n: int) -> str:
    """A number 0..999,999,999 in English words: 21 twenty-one, 105 one hundred and five."""
    if not 0 <= n < 1_000_000_000:
        raise ValueError("number out of range")
    if n < 20:
        return _EN_SMALL[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_SMALL[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_SMALL[hundreds]} hundred" + (f" and {en_number(rest)}" if rest else "")
    for size, name in ((1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            joiner = " and " if 0 < rest < 100 else " "
            return f"{en_number(high)} {name}" + (f"{joiner}{en_number(rest)}" if rest else "")
    raise AssertionError("unreachable")


def position_announcement(position: int, wait_s: float | None, language: str) -> str:
    """ "您前面还有 3 位…" / "You are number 3 in the queue…", in words. ``position`` is
    the caller's place (1 = next); the wait is rounded up to whole minutes, and left out
    when unknown."""
    ahead = max(position - 1, 0)
    minutes = None if wait_s is None else max(1, -(-int(wait_s) // 60))
    if language == "zh-CN":
        text = f"您前面还有{zh_number(ahead, counting=True)}位客户" if ahead else "您是下一位"
        if minutes is not None:
            text += f"，预计等待{zh_number(minutes, counting=True)}分钟"
        return text + "。"
    text = f"You are number {en_number(position)} in the queue"
    if minutes is not None:
        unit = "minute" if minutes == 1 else "minutes"
        text += f"; estimated wait {en_number(minutes)} {unit}"
    return text + "."
