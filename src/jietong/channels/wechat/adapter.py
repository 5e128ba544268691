"""The WeChat adapter: replies through the customer-service message interface.

The access_token is fetched from /cgi-bin/token with the account's appid and secret,
cached per account until shortly before it expires, and refreshed once when WeChat
answers 40001/40014/42001. 45015 (the follower last wrote more than 48 hours ago) and
other permanent codes fail the delivery at once; network errors and -1 (busy) retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from jietong.channels.base import ChannelAccount, DeliveryResult, OutboundMessage
from jietong.channels.registry import AccountSpec
from jietong.channels.wechat import wire
from jietong.identity.contact_points import ContactKind

WECHAT_API = "https://api.weixin.qq.com"
ACCOUNTS = {
    "official_account": AccountSpec(
        settings=frozenset({"app_id"}),
        optional_settings=frozenset({"api_base_url"}),
        secrets=frozenset({"app_secret", "token"}),
        optional_secrets=frozenset({"encoding_aes_key"}),  # safe mode (wechat/crypto.py)
    )
}
TOKEN_MARGIN_SECONDS = 300  # refresh this long before WeChat's expiry


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class WeChatAdapter:
    """WeChat Official Accounts; holds the access tokens of the accounts it sent for."""

    def __init__(
        self, *, timeout: float = 10.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._timeout = timeout
        self._monotonic = monotonic
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return wire.CHANNEL

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.WECHAT_OPENID

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        account = message.account
        if account is None:
            return DeliveryResult(
                ok=False, error="no WeChat account to send through", retryable=False
            )
        body = wire.custom_text_message(message.recipient.address, message.text)
        try:
            answer = self._send(account, body, refresh=False)
            if answer.errcode in wire.REFRESH_CODES:
                answer = self._send(account, body, refresh=True)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        except _TokenError as exc:
            return DeliveryResult(ok=False, error=str(exc), retryable=exc.retryable)
        if answer.errcode == 0:
            # The interface returns no message id; ours identifies the reply.
            return DeliveryResult(ok=True, provider_message_id=None)
        error = f"WeChat errcode {answer.errcode}: {answer.errmsg}"
        return DeliveryResult(
            ok=False, error=error, retryable=answer.errcode not in wire.PERMANENT_CODES
        )

    def fetch_media(
        self, account: ChannelAccount, media_id: str, *, max_bytes: int
    ) -> wire.MediaFile:
        """Download a follower's file through /cgi-bin/media/get (the token refreshed once
        if WeChat says it expired). MediaFetchError says whether trying later can help."""
        try:
            answer = self._get_media(account, media_id, max_bytes, refresh=False)
            if isinstance(answer, wire.ApiAnswer) and answer.errcode in wire.REFRESH_CODES:
                answer = self._get_media(account, media_id, max_bytes, refresh=True)
        except httpx.HTTPError as exc:
            raise MediaFetchError(f"{type(exc).__name__}: {exc}"[:500], retryable=True) from None
        except _TokenError as exc:
            raise MediaFetchError(str(exc), retryable=exc.retryable) from None
        if isinstance(answer, wire.MediaFile):
            return answer
        gone = answer.errcode in wire.MEDIA_GONE_CODES or answer.errcode in wire.PERMANENT_CODES
        raise MediaFetchError(
            f"WeChat errcode {answer.errcode}: {answer.errmsg}", retryable=not gone
        )

    def _get_media(
        self, account: ChannelAccount, media_id: str, max_bytes: int, *, refresh: bool
    ) -> wire.MediaFile | wire.ApiAnswer:
        token = self._token(account, refresh=refresh)
        with httpx.stream(
            "GET",
            _base(account) + wire.MEDIA_PATH,
            params={"access_token": token, "media_id": media_id},
            timeout=self._timeout,
        ) as response:
            if response.status_code >= 500:
                return wire.ApiAnswer(-1, f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise MediaFetchError(
                        f"the file is larger than the attachment limit of {max_bytes} bytes",
                        retryable=False,
                    )
            return wire.parse_media_answer(
                response.headers.get("content-type"),
                response.headers.get("content-disposition"),
                bytes(body),
            )

    def _send(self, account: ChannelAccount, body: bytes, *, refresh: bool) -> wire.ApiAnswer:
        token = self._token(account, refresh=refresh)
        response = httpx.post(
            _base(account) + wire.SEND_PATH,
            params={"access_token": token},
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=self._timeout,
        )
        if response.status_code >= 500:
            return wire.ApiAnswer(-1, f"HTTP {response.status_code}")
        return wire.parse_api_answer(response.content)

    def _token(self, account: ChannelAccount, *, refresh: bool) -> str:
        key = (account.id, account.settings["app_id"])
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and not refresh and cached.expires_at > self._monotonic():
                return cached.value
            response = httpx.get(
                _base(account) + wire.TOKEN_PATH,
                params={
                    "grant_type": "client_credential",
                    "appid": account.settings["app_id"],
                    "secret": account.secrets["app_secret"],
                },
                timeout=self._timeout,
            )
            answer = wire.parse_api_answer(response.content)
            if answer.access_token is None:
                permanent = answer.errcode in wire.PERMANENT_CODES
                raise _TokenError(
                    f"WeChat token errcode {answer.errcode}: {answer.errmsg}",
                    retryable=not permanent,
                )
            lifetime = max((answer.expires_in or 7200) - TOKEN_MARGIN_SECONDS, 60)
            self._tokens[key] = _Token(answer.access_token, self._monotonic() + lifetime)
            return answer.access_token


class MediaFetchError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _TokenError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _base(account: ChannelAccount) -> str:
    return (account.settings.get("api_base_url") or WECHAT_API).rstrip("/")
