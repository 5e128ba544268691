"""WeChat Official Account message push, plain-text mode, pure.

WeChat signs each push with `signature = sha1(sorted([token, timestamp, nonce]) joined)`
in the query string; the same check answers the server-verification GET by echoing
`echostr`. A push is XML: text (`Content`, `MsgId`), image (`PicUrl`, `MediaId`,
`MsgId`), and event pushes (`Event`: subscribe, unsubscribe, ...), which carry no MsgId —
WeChat's advice is to dedupe them on FromUserName + CreateTime, which we do.

The XML is parsed with the standard library after refusing any DOCTYPE (no entities, so
no entity expansion or external entity tricks). Encrypted (AES) mode is not supported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from jietong.channels.base import InboundMessage, Party
from jietong.channels.errors import BadSignature
from jietong.channels.wechat import crypto
from jietong.core.errors import InvalidInput
from jietong.identity.contact_points import ContactKind

CHANNEL = "wechat"
MAX_XML = 64 * 1024
_AUTO_EVENTS = frozenset({"subscribe", "unsubscribe", "view", "location", "templatesendjobfinish"})


@dataclass(frozen=True)
class PushOrigin:
    org_id: str
    account_id: str
    queue_id: str | None
    received_at: datetime


def push_signature(token: str, timestamp: str, nonce: str) -> str:
    """The `signature` WeChat sends: sha1 of the three values sorted and concatenated."""
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def verify_push(
    token: str,
    signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    *,
    now: datetime,
    max_age_seconds: int,
) -> None:
    """BadSignature unless the query parameters are WeChat's for our token, and recent
    (a replayed push with an old timestamp is refused)."""
    if not (token and signature and timestamp and nonce):
        raise BadSignature("signature, timestamp and nonce are required")
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > max_age_seconds:
        raise BadSignature("the timestamp is missing or too old; replay refused")
    expected = push_signature(token, timestamp, nonce)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise BadSignature("the signature does not match")


def decrypt_push(
    body: bytes,
    *,
    token: str,
    encoding_aes_key: str,
    app_id: str,
    timestamp: str,
    nonce: str,
    msg_signature: str | None,
) -> bytes:
    """The plain push XML inside a safe-mode push (see `crypto`). BadSignature when the
    account has no EncodingAESKey or the push was not encrypted and signed for us."""
    if not encoding_aes_key:
        raise BadSignature("an encrypted push, but the account has no encoding_aes_key")
    encrypted = _xml_fields(body).get("Encrypt", "")
    if not encrypted:
        raise InvalidInput("an encrypted push without <Encrypt>")
    crypto.verify_msg_signature(token, timestamp, nonce, encrypted, msg_signature)
    return crypto.decrypt(encoding_aes_key, app_id, encrypted)


def parse_push(body: bytes, origin: PushOrigin) -> InboundMessage:
    """An XML push as an InboundMessage; InvalidInput for anything malformed or a
    message type we do not take (voice, video, location are stored as a note of type)."""
    fields = _xml_fields(body)
    openid = _field(fields, "FromUserName")
    ours = _field(fields, "ToUserName")
    created = _field(fields, "CreateTime")
    kind = _field(fields, "MsgType").lower()
    if not created.isdigit():
        raise InvalidInput("CreateTime is not a number")
    text, external_id, auto, extra = _content(kind, fields, openid, created)
    return InboundMessage(
        channel=CHANNEL,
        org_id=origin.org_id,
        external_id=external_id,
        sender=Party(kind=ContactKind.WECHAT_OPENID, address=openid),
        received_at=origin.received_at,
        text=text,
        thread_key=f"{ours}|{openid}",
        recipient=ours,
        auto_generated=auto,
        metadata={"msg_type": kind, "create_time": created, **extra},
        raw=body,
        account_id=origin.account_id,
        queue_id=origin.queue_id,
    )


def _content(
    kind: str, fields: dict[str, str], openid: str, created: str
) -> tuple[str, str, bool, dict[str, str]]:
    """(text, external id, automatic?, extra metadata) of one push."""
    if kind == "event":
        event = _field(fields, "Event").lower()
        key = fields.get("EventKey", "")[:200]
        extra = {"event": event, **({"event_key": key} if key else {})}
        # Events are facts about the follower, not questions: stored, never routed.
        return f"[{event}]", f"event:{openid}:{created}:{event}", event in _AUTO_EVENTS, extra
    msg_id = _field(fields, "MsgId")
    if kind == "text":
        return fields.get("Content", ""), msg_id, False, {}
    if kind == "image":
        extra = {"pic_url": fields.get("PicUrl", "")[:2000], "media_id": fields.get("MediaId", "")}
        return "[image]", msg_id, False, {k: v for k, v in extra.items() if v}
    if kind in ("voice", "video", "shortvideo", "location", "link", "file"):
        # The file behind a MediaId is fetched after the push is answered (wechat/media.py).
        media = fields.get("MediaId", "")
        return f"[{kind}]", msg_id, False, {"media_id": media} if media else {}
    raise InvalidInput(f"unsupported MsgType '{kind[:20]}'")


def _xml_fields(body: bytes) -> dict[str, str]:
    if len(body) > MAX_XML:
        raise InvalidInput(f"the push is larger than {MAX_XML} bytes")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise InvalidInput("DOCTYPE and entities are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DOCTYPE refused above: no entities
    except ET.ParseError as exc:
        raise InvalidInput(f"the push is not well-formed XML ({exc})") from None
    if root.tag != "xml":
        raise InvalidInput("the push's root element must be <xml>")
    return {child.tag: (child.text or "").strip() for child in root if len(child) == 0}


def _field(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise InvalidInput(f"the push has no {name}")
    if len(value) > 200 or "\x00" in value:
        raise InvalidInput(f"{name} is malformed")
    return value


# -- the customer-service message interface ---------------------------------------------

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a secret
SEND_PATH = "/cgi-bin/message/custom/send"
# access_token invalid (40001), expired (42001), not the latest (40014): refresh, retry.
REFRESH_CODES = frozenset({40001, 40014, 42001})
# Permanent: out of the 48-hour window (45015), reply limit (45047), user refused (43004),
# invalid openid (40003), api unauthorised (48001), bad appid/secret (40013, 40125, 40164).
PERMANENT_CODES = frozenset({40003, 40013, 40125, 40164, 43004, 45015, 45047, 48001})


MEDIA_PATH = "/cgi-bin/media/get"
# Kinds of push whose MediaId names a file worth fetching (a thumbnail alone is not).
MEDIA_KINDS = frozenset({"image", "voice", "video", "shortvideo", "file"})
# "invalid media_id" and "media data missing": the file is gone (WeChat keeps it 3 days).
MEDIA_GONE_CODES = frozenset({40007, 46001})
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    content_type: str | None
    filename: str | None


def parse_media_answer(
    content_type: str | None, disposition: str | None, body: bytes
) -> MediaFile | ApiAnswer:
    """What /cgi-bin/media/get answered: the file itself (with the Content-Type and the
    name in Content-disposition that WeChat sends), or a JSON error answer
    (``{"errcode":40007,"errmsg":"invalid media_id"}``)."""
    declared = (content_type or "").split(";")[0].strip().lower() or None
    if body[:1] == b"{" and not disposition:
        answer = parse_api_answer(body)
        if answer.errcode != 0:
            return answer
    if not body:
        return ApiAnswer(-1, "the answer is empty")
    match = _FILENAME.search(disposition or "")
    return MediaFile(body, declared, match.group(1).strip() if match else None)


def custom_text_message(openid: str, text: str) -> bytes:
    """The JSON body of a text reply through the customer-service message interface."""
    payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
    return json.dumps(payload, ensure_ascii=False).encode()


@dataclass(frozen=True)
class ApiAnswer:
    errcode: int
    errmsg: str
    access_token: str | None = None
    expires_in: int | None = None


def parse_api_answer(body: bytes) -> ApiAnswer:
    """A WeChat API JSON answer; errcode 0 when absent (the token endpoint omits it)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ApiAnswer(-1, "the answer is not JSON")
    if not isinstance(data, dict):
        return ApiAnswer(-1, "the answer is not a JSON object")
    token = data.get("access_token")
    expires = data.get("expires_in")
    code = data.get("errcode", 0)
    return ApiAnswer(
        errcode=code if isinstance(code, int) else -1,
        errmsg=str(data.get("errmsg", ""))[:300],
        access_token=token if isinstance(token, str) else None,
        expires_in=expires if isinstance(expires, int) else None,
    )


def xml_push(fields: dict[str, str]) -> bytes:
    """Build a push as WeChat sends it (CDATA text fields); for tests and tools."""
    parts = []
    for name, value in fields.items():
        body = value if value.isdigit() else f"<![CDATA[{value}]]>"
        parts.append(f"<{name}>{body}</{name}>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def unix(moment: datetime) -> str:
    return str(int(moment.astimezone(UTC).timestamp()))
