"""Reading the parts of sippy's messages we decide on into plain frozen data, on the
reactor thread, so the asyncio side never touches a sippy object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_CONTACTS = 10
EDGE_PHONE_HEADER = "x-jietong-phone"


class BadRequest(ValueError):
    """A request we cannot act on (answered 400)."""


@dataclass(frozen=True, slots=True)
class ContactSpec:
    uri: str
    expires: int | None  # the Contact's ;expires, if any


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """An out-of-dialog request as signaling decides on it."""

    method: str
    sip_call_id: str
    cseq: int
    source: tuple[str, int]
    ruri_user: str | None
    from_uri: str
    from_user: str
    from_name: str | None
    to_user: str | None
    authorization: str | None  # raw Authorization (or Proxy-Authorization) value
    contacts: tuple[ContactSpec, ...] = ()
    contact_star: bool = False
    expires: int | None = None
    user_agent: str | None = None
    body: str | None = None
    content_type: str | None = None
    edge_phone: str | None = None  # X-Jietong-Phone, as sent: believed from a trusted edge only


def raw_header(msg: Any, name: str) -> str | None:
    """The text of the first header `name` as received (sippy may not have parsed it)."""
    for hf in msg.getHFs(name):
        body = hf.body
        text = getattr(body, "body", None)
        return text if isinstance(text, str) and not getattr(body, "parsed", False) else str(body)
    return None


def read_request(req: Any) -> RequestInfo:
    try:
        return _read(req)
    except BadRequest:
        raise
    except Exception as exc:  # sippy parses lazily: a bad header surfaces here
        raise BadRequest(f"unparseable request: {type(exc).__name__}") from exc


def _read(req: Any) -> RequestInfo:
    method = req.getMethod()
    from_hf = req.getHFBody("from")
    from_url = from_hf.getUrl()
    to_url = req.getHFBody("to").getUrl()
    cseq_num, _ = req.getHFBody("cseq").getCSeq()
    contacts: list[ContactSpec] = []
    star = False
    for body in req.getHFBodys("contact"):
        if getattr(body, "asterisk", False):
            star = True
            continue
        address = body.getUri()
        expires_param = address.getParam("expires")
        expires = _int(expires_param) if expires_param is not None else None
        contacts.append(ContactSpec(str(address.url), expires))
    if len(contacts) > MAX_CONTACTS:
        raise BadRequest("too many contacts")
    expires_hf = raw_header(req, "expires")
    body = req.getBody()
    authorization = raw_header(req, "authorization") or raw_header(req, "proxy-authorization")
    ruri = req.getRURI()
    return RequestInfo(
        method=method,
        sip_call_id=str(req.getHFBody("call-id")),
        cseq=int(cseq_num),
        source=(str(req.getSource()[0]), int(req.getSource()[1])),
        ruri_user=ruri.username,
        from_uri=str(from_url),
        from_user=from_url.username or "",
        from_name=from_hf.getUri().name or None,
        to_user=to_url.username,
        authorization=authorization,
        contacts=tuple(contacts),
        contact_star=star,
        expires=_int(expires_hf) if expires_hf is not None else None,
        user_agent=(raw_header(req, "user-agent") or "")[:200] or None,
        body=str(body) if body is not None else None,
        content_type=getattr(body, "mtype", None) if body is not None else None,
        edge_phone=(raw_header(req, EDGE_PHONE_HEADER) or "").strip()[:64] or None,
    )


def _int(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        raise BadRequest("not a number")
    return int(text)
