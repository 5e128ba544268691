"""Plain text from HTML-only mail, so that quotes can be split and agents (and search)
get text. Block elements become line breaks, list items "- ", blockquotes "> " lines
(which `quotes.split_reply` then recognises); scripts, styles and heads are skipped.
Pure and forgiving: html.parser never raises on malformed markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\n\f\u00a0\u3000]+")
_MAX_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            # A <head> left unclosed must not hide the body.
            self.skip_depth = 0
        if tag in _SKIPPED:
            self.skip_depth += 1
            return
        if tag == "br":
            self.break_line(keep_empty=True)
        elif tag in _BLOCKS:
            self.break_line()
            if tag == "li":
                self.current.append("- ")
        if tag in ("td", "th"):
            self.current.append(" ")
        if tag == "blockquote":
            self.quote_depth += 1
        if tag == "pre":
            self.pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _BLOCKS:
            self.break_line()
        if tag == "p":
            self.break_line(keep_empty=True)  # paragraphs are set apart by a blank line
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            first, *rest = data.split("\n")
            self.current.append(first)
            for line in rest:
                self.break_line()
                self.current.append(line)
            return
        self.current.append(_SPACES.sub(" ", data))

    def break_line(self, *, keep_empty: bool = False) -> None:
        """End the current line; an empty one is kept only for <br> and paragraph ends
        (block boundaries alone do not make blank lines)."""
        joined = "".join(self.current)
        text = joined.rstrip() if self.pre_depth else joined.strip(" ")
        self.current = []
        if text:
            self.lines.append("> " * self.quote_depth + text)
        elif keep_empty and (not self.lines or self.lines[-1]):
            self.lines.append("")


def html_to_text(html: str) -> str:
    """Readable plain text of `html`."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    collector.break_line()
    text = "\n".join(line.rstrip() for line in collector.lines)
    return _MAX_BLANK_LINES.sub("\n\n", text).strip()
