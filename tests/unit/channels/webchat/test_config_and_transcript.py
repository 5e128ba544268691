"""Widget settings are parsed safely (an admin's typo never breaks a widget or widens it),
the adapter confirms chat replies, and transcripts render every message in order."""

from __future__ import annotations

from datetime import UTC, datetime

from jietong.channels.base import ChannelAccount, OutboundMessage, Party
from jietong.channels.webchat.adapter import WebchatAdapter
from jietong.channels.webchat.config import OfflineWhen, PreChat, widget_config
from jietong.channels.webchat.model import AttachmentInfo, TimelineItem
from jietong.channels.webchat.transcripts import Labels, render
from jietong.identity.contact_points import ContactKind

KEY = "0192f0c4a1b27c3d8e9f00112233abcd"


def account(settings: dict[str, str], secrets: dict[str, str] | None = None) -> ChannelAccount:
    return ChannelAccount(id=KEY, provider="widget", settings=settings, secrets=secrets or {})


def test_defaults_and_safe_parsing() -> None:
    config = widget_config("org", None, account({}))
    assert config.title is None and config.pre_chat is PreChat.OPTIONAL
    assert config.offline_when is OfflineWhen.NO_AGENTS and not config.identity_required
    assert config.max_attachment_bytes == 10 * 1024 * 1024
    odd = widget_config(
        "org",
        None,
        account({"pre_chat": "Sometimes", "offline_when": "?", "max_attachment_mb": "999"}),
    )
    assert odd.pre_chat is PreChat.OPTIONAL and odd.offline_when is OfflineWhen.NO_AGENTS
    assert odd.max_attachment_bytes == 25 * 1024 * 1024


def test_allowed_origins_are_exact_origins() -> None:
    config = widget_config(
        "org", None, account({"allowed_origins": "https://Shop.Example:8443/path  javascript:x"})
    )
    assert config.allowed_origins == frozenset({"https://shop.example:8443"})
    assert config.origin_allowed("https://shop.example:8443")
    assert not config.origin_allowed("https://shop.example")
    assert not config.origin_allowed("https://shop.example:8443.evil.example")
    assert not config.origin_allowed("null")
    assert config.origin_allowed(None)  # not a browser page
    assert widget_config("org", None, account({})).origin_allowed("https://anyone.example")


def test_the_adapter_confirms_chat_replies_only() -> None:
    adapter = WebchatAdapter()
    message = OutboundMessage(
        channel="chat",
        org_id="org",
        delivery_id="d1",
        interaction_id="i1",
        message_id="m1",
        recipient=Party(kind=ContactKind.CHAT_VISITOR, address="v-" + "0" * 32),
        text="hi",
    )
    assert adapter.deliver(message).ok and adapter.deliver(message).provider_message_id == "m1"
    wrong = OutboundMessage(**{**message.__dict__, "recipient": Party(ContactKind.PHONE, "+1")})
    assert not adapter.deliver(wrong).ok and not adapter.deliver(wrong).retryable


def test_transcript_lists_every_message_in_order() -> None:
    at = datetime(2026, 11, 22, 8, 5, tzinfo=UTC)
    items = [
        TimelineItem(1, "m1", "i", "visitor", None, "第一行\n第二行", at, "c1"),
        TimelineItem(
            2,
            "m2",
            "i",
            "agent",
            "王芳",
            "您好",
            at,
            None,
            (AttachmentInfo("a", "说明.pdf", "application/pdf", 10),),
        ),
        TimelineItem(3, "m3", "i", "agent", None, "ok", at, None),
    ]
    text = render(items, Labels("聊天记录", "您", "客服", "系统", "附件"))
    assert text.splitlines()[:4] == [
        "聊天记录",
        "",
        "[2026-11-22 08:05 UTC] 您:",
        "  第一行",
    ]
    assert "  第二行" in text and "王芳:" in text and "(附件: 说明.pdf)" in text
    assert "客服:" in text  # an agent without a name
