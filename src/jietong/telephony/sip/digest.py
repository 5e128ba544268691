"""HTTP digest for SIP (RFC 3261 section 22, RFC 2617 / 7616 with MD5): the server side.

We keep HA1 = MD5(user:realm:password), never the password: that is all a verifier
needs, and a leaked HA1 only opens this realm. Nonces are stateless: a timestamp signed
with HMAC-SHA256 under a server key, so any signaling process that shares the key can
verify them, and an expired but genuine nonce earns ``stale=true`` (the phone retries
with the same credentials without asking its user).

Answering challenges (trunk registration, outbound INVITE through a trunk) is sippy's
job (`UA` and `SipRegistrationAgent` take a username and password).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

MAX_HEADER = 4096


def md5_hex(text: str) -> str:
    # MD5 is what SIP digest (RFC 2617) uses; not a password hash of ours.
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def ha1(user: str, realm: str, password: str) -> str:
    return md5_hex(f"{user}:{realm}:{password}")


def new_password() -> str:
    """A phone password: 20 URL-safe characters (about 120 bits), easy to type into a
    phone's web page."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A parsed Authorization / Proxy-Authorization header (scheme Digest)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None


class Verdict(Enum):
    OK = "ok"
    BAD = "bad"  # wrong response, wrong realm, forged nonce: count as a failure
    STALE = "stale"  # the right password over an expired nonce: re-challenge, stale=true


def parse_authorization(value: str) -> Credentials | None:
    """The fields of a Digest header value, or None when it is not a usable one."""
    if len(value) > MAX_HEADER:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    fields = _params(rest)
    try:
        return Credentials(
            username=fields["username"],
            realm=fields["realm"],
            nonce=fields["nonce"],
            uri=fields["uri"],
            response=fields["response"].lower(),
            algorithm=fields.get("algorithm", "MD5"),
            qop=fields.get("qop"),
            nc=fields.get("nc"),
            cnonce=fields.get("cnonce"),
            opaque=fields.get("opaque"),
        )
    except KeyError:
        return None


def _params(text: str) -> dict[str, str]:
    """name=value pairs separated by commas; values quoted (with backslash escapes) or
    tokens. Quoted commas do not split."""
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        name = text[i:eq].strip().lower()
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            value = "".join(chars)
            i += 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        out[name] = value
    return out


class NonceBook:
    """Issues and checks stateless nonces ``<time hex>.<hmac>``.

    `now` is always passed in (seconds, monotonic or wall clock, the same kind on both
    sides), so tests control expiry."""

    def __init__(self, key: bytes, *, lifetime_s: float = 300.0) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def issue(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}"
        return f"{stamp}.{self._sign(stamp)}"

    def check(self, nonce: str, now: float) -> Verdict:
        stamp, _, mac = nonce.partition(".")
        if not stamp or not hmac.compare_digest(mac, self._sign(stamp)):
            return Verdict.BAD
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return Verdict.BAD
        if issued > now + 5 or now - issued > self.lifetime_s:
            return Verdict.STALE
        return Verdict.OK

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]


def challenge(realm: str, nonce: str, *, stale: bool = False) -> str:
    """The value of WWW-Authenticate / Proxy-Authenticate."""
    value = f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
    return value + (", stale=true" if stale else "")


def expected_response(creds: Credentials, method: str, stored_ha1: str) -> str:
    ha2 = md5_hex(f"{method}:{creds.uri}")
    if creds.qop is None:
        return md5_hex(f"{stored_ha1}:{creds.nonce}:{ha2}")
    return md5_hex(f"{stored_ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}")


def verify(
    creds: Credentials,
    *,
    method: str,
    realm: str,
    stored_ha1: str | None,
    nonces: NonceBook,
    now: float,
) -> Verdict:
    """Check a response. `stored_ha1` None (unknown user) runs the same computation
    against a throw-away value, so unknown users and wrong passwords take the same path
    and give the same verdict (no extension enumeration by response or timing)."""
    if creds.algorithm.upper() != "MD5" or creds.qop not in (None, "auth"):
        return Verdict.BAD
    if creds.qop == "auth" and (not creds.nc or not creds.cnonce):
        return Verdict.BAD
    decoy = stored_ha1 is None
    key = stored_ha1 if stored_ha1 is not None else md5_hex(secrets.token_hex(8))
    good = hmac.compare_digest(expected_response(creds, method, key), creds.response)
    if decoy or not good or creds.realm != realm:
        return Verdict.BAD
    return nonces.check(creds.nonce, now)
