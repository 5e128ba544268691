"""Sending composed mail through an SMTP relay, and telling passing failures from final
ones (the delivery worker retries the first kind with backoff and marks the second
failed at once, so an agent sees it).

Blocking (smtplib): the delivery worker runs `send` in a thread. With STARTTLS configured,
a server that does not offer it is a failure, never a silent fall-back to plain text.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from enum import StrEnum

from jietong.channels.base import DeliveryResult
from jietong.channels.email.compose import ComposedEmail


class Security(StrEnum):
    NONE = "none"  # only for relays on a trusted network (and tests)
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS (port 465)


@dataclass(frozen=True)
class Relay:
    """An SMTP relay (submission server) to send through."""

    host: str
    port: int = 587
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    local_hostname: str | None = None  # the name we greet with (EHLO)


def send(relay: Relay, mail: ComposedEmail) -> DeliveryResult:
    """Hand `mail` to `relay`. ok with the Message-ID as provider id, or a failure saying
    whether trying again later can help."""
    try:
        with _connect(relay) as client:
            _secure_and_login(client, relay)
            refused = client.sendmail(
                mail.envelope_from, list(mail.recipients), mail.data, mail_options=_options(mail)
            )
    except smtplib.SMTPRecipientsRefused as exc:
        return _refused(exc.recipients)
    except smtplib.SMTPResponseException as exc:
        return _failure(exc.smtp_code, _text(exc.smtp_error))
    except smtplib.SMTPNotSupportedError as exc:
        return DeliveryResult(ok=False, error=f"relay: {exc}", retryable=False)
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return DeliveryResult(ok=False, error=f"relay unreachable: {exc}"[:500], retryable=True)
    if refused:
        return _refused(refused)
    return DeliveryResult(ok=True, provider_message_id=mail.message_id)


def _connect(relay: Relay) -> smtplib.SMTP:
    if relay.security is Security.TLS:
        return smtplib.SMTP_SSL(
            relay.host,
            relay.port,
            timeout=relay.timeout,
            local_hostname=relay.local_hostname,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(
        relay.host, relay.port, timeout=relay.timeout, local_hostname=relay.local_hostname
    )


def _secure_and_login(client: smtplib.SMTP, relay: Relay) -> None:
    client.ehlo()
    if relay.security is Security.STARTTLS:
        if not client.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("the relay does not offer STARTTLS")
        client.starttls(context=ssl.create_default_context())
        client.ehlo()
    if relay.username:
        client.login(relay.username, relay.password or "")


def _options(mail: ComposedEmail) -> list[str]:
    """SMTPUTF8 for internationalised addresses (张三@例子.中国); plain mail needs nothing."""
    addresses = (mail.envelope_from, *mail.recipients)
    return [] if all(a.isascii() for a in addresses) else ["SMTPUTF8"]


def _refused(recipients: dict[str, tuple[int, bytes]]) -> DeliveryResult:
    code, reason = next(iter(recipients.values()), (550, b"recipient refused"))
    return _failure(code, f"recipient refused: {_text(reason)}")


def _failure(code: int, detail: str) -> DeliveryResult:
    # 5xx is a final answer (unknown user, policy); 4xx and anything odd is passing.
    permanent = 500 <= code < 600
    return DeliveryResult(ok=False, error=f"{code} {detail}"[:500], retryable=not permanent)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
