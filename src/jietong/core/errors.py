"""Domain errors. The HTTP layer maps each class to one status code (RFC 9457 problems)."""

from __future__ import annotations


class JietongError(Exception):
    """Base of all domain errors; `title` is a short, stable summary for problem JSON."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(JietongError):
    title = "Not found"


class Conflict(JietongError):
    title = "Conflict"


class InvalidInput(JietongError):
    title = "Invalid input"


class IllegalTransition(Conflict):
    title = "Illegal state transition"


class PermissionDenied(JietongError):
    title = "Forbidden"


class AuthenticationFailed(JietongError):
    title = "Unauthorized"


class RateLimited(JietongError):
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(JietongError):
    title = "Payload too large"
