"""Sanitising inbound HTML before any screen sees it.

Mail HTML is attacker-controlled. The allow-list below keeps what reading a message
needs (text structure, tables, links, inline images) and drops everything that runs,
restyles or phones home: scripts, styles, event handlers, forms, frames, `javascript:`
and `data:` URLs, and every image that is not an inline `cid:` part. Remote images are
dropped rather than proxied: loading them would tell the sender that (and when) the mail
was read, and fetching them server-side would be SSRF. The server itself never fetches
anything a message refers to.

Sanitising is done by ammonia (Rust, through nh3), an HTML5-parser-based cleaner; a
regex-based one cannot be trusted with malformed markup.
"""

from __future__ import annotations

from dataclasses import dataclass

import nh3

MAX_HTML_CHARS = 2_000_000

_TAGS = frozenset(
    {
        *("a", "abbr", "b", "bdi", "blockquote", "br", "caption", "center", "cite", "code"),
        *("col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2"),
        *("h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p"),
        *("pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul"),
    }
)
# Removed together with their content (not merely unwrapped).
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "title", "head", "template", "noscript", "object", "iframe"}
)
_ATTRIBUTES = {
    "*": {"dir", "lang", "title", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign"},
    "th": {"colspan", "rowspan", "valign", "scope"},
    "ol": {"start"},
    "font": {"color"},
}
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})


@dataclass(frozen=True)
class SanitisedHtml:
    html: str
    remote_images_blocked: int


def sanitise_html(html: str) -> SanitisedHtml:
    """`html` reduced to the allow-list; the count of remote images removed lets a
    screen say "remote images were blocked"."""
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if tag == "img" and attribute == "src":
            if value.strip().lower().startswith("cid:"):
                return value.strip()
            blocked += 1
            return None
        if tag == "a" and attribute == "href" and value.strip().lower().startswith("cid:"):
            return None
        return value

    cleaned = nh3.clean(
        html[:MAX_HTML_CHARS],
        tags=set(_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        # A relative link would point into Jietong itself once shown on its screens.
        url_relative="deny",
    )
    return SanitisedHtml(cleaned, blocked)
