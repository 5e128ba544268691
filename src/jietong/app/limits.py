"""Refuse oversized request bodies before they are read into memory or spooled to disk.

A declared Content-Length over the limit is answered 413 at once. A body without one is
counted as it arrives; past the limit the client gets the 413, the application sees a
disconnect, and whatever it still tries to send is dropped.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jietong.app.problems import MEDIA_TYPE

# Multipart framing and form fields around the largest allowed attachment.
ENVELOPE_BYTES = 1024 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(send)
            return
        refused = False
        seen = 0

        async def counted_receive() -> Message:
            nonlocal refused, seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes and not refused:
                refused = True
                await self._refuse(send)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"type":"about:blank","title":"Payload too large","status":413,'
            b'"detail":"request body over ' + str(self.max_body_bytes).encode() + b' bytes"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
