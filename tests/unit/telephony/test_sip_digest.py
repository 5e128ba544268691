"""Digest (RFC 2617 / 3261 22) server side, nonces, the failure limiter, INFO digits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jietong.telephony.sip import digest
from jietong.telephony.sip.limits import FailureLimiter
from jietong.telephony.sip.signaling import _info_digit

REALM = "jietong"
KEY = b"k" * 32


def client_header(
    user: str,
    password: str,
    nonce: str,
    *,
    method: str = "REGISTER",
    uri: str = "sip:jietong",
    qop: bool = True,
    realm: str = REALM,
) -> str:
    ha1 = digest.ha1(user, realm, password)
    ha2 = digest.md5_hex(f"{method}:{uri}")
    if qop:
        response = digest.md5_hex(f"{ha1}:{nonce}:00000001:abcdef:auth:{ha2}")
        extra = ', qop=auth, nc=00000001, cnonce="abcdef"'
    else:
        response = digest.md5_hex(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5{extra}'
    )


def check(
    header: str, stored: str | None, now: float, book: digest.NonceBook, method: str = "REGISTER"
) -> digest.Verdict:
    creds = digest.parse_authorization(header)
    assert creds is not None
    return digest.verify(creds, method=method, realm=REALM, stored_ha1=stored, nonces=book, now=now)


def test_rfc2617_example_response() -> None:
    # The worked example of RFC 2617 section 3.5 (qop=auth, MD5).
    creds = digest.Credentials(
        username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        response="6629fae49393a05397450978507c4ef1",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    stored = digest.ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert digest.expected_response(creds, "GET", stored) == creds.response


def test_right_password_with_and_without_qop() -> None:
    book = digest.NonceBook(KEY)
    nonce = book.issue(1000.0)
    stored = digest.ha1("1001", REALM, "pw")
    assert check(client_header("1001", "pw", nonce), stored, 1001.0, book) is digest.Verdict.OK
    assert (
        check(client_header("1001", "pw", nonce, qop=False), stored, 1001.0, book)
        is digest.Verdict.OK
    )
    assert (
        check(
            client_header("1001", "pw", nonce, method="INVITE"),
            stored,
            1001.0,
            book,
            method="INVITE",
        )
        is digest.Verdict.OK
    )


def test_wrong_password_unknown_user_wrong_realm_and_forged_nonce_are_bad() -> None:
    book = digest.NonceBook(KEY)
    nonce = book.issue(1000.0)
    stored = digest.ha1("1001", REALM, "pw")
    assert check(client_header("1001", "nope", nonce), stored, 1001.0, book) is digest.Verdict.BAD
    assert check(client_header("ghost", "pw", nonce), None, 1001.0, book) is digest.Verdict.BAD
    other_realm = client_header("1001", "pw", nonce, realm="evil")
    assert check(other_realm, digest.ha1("1001", "evil", "pw"), 1001.0, book) is digest.Verdict.BAD
    forged = "1f4.0000"
    assert check(client_header("1001", "pw", forged), stored, 1001.0, book) is digest.Verdict.BAD
    other_key = digest.NonceBook(b"x" * 32).issue(1000.0)
    assert check(client_header("1001", "pw", other_key), stored, 1001.0, book) is digest.Verdict.BAD
    # Same request signed for another method (a REGISTER digest replayed on INVITE).
    assert (
        check(client_header("1001", "pw", nonce), stored, 1001.0, book, method="INVITE")
        is digest.Verdict.BAD
    )


def test_expired_nonce_with_the_right_password_is_stale_and_with_a_wrong_one_bad() -> None:
    book = digest.NonceBook(KEY, lifetime_s=300)
    nonce = book.issue(1000.0)
    stored = digest.ha1("1001", REALM, "pw")
    assert check(client_header("1001", "pw", nonce), stored, 1299.0, book) is digest.Verdict.OK
    assert check(client_header("1001", "pw", nonce), stored, 1301.0, book) is digest.Verdict.STALE
    assert check(client_header("1001", "bad", nonce), stored, 1301.0, book) is digest.Verdict.BAD


def test_challenge_value() -> None:
    value = digest.challenge(REALM, "abc", stale=True)
    assert value == 'Digest realm="jietong", nonce="abc", algorithm=MD5, qop="auth", stale=true'


def test_authorization_parsing_handles_quotes_commas_and_junk() -> None:
    creds = digest.parse_authorization(
        'Digest username="a\\"b", realm="r,1", nonce=n, uri="sip:x", response="ABC", qop=auth'
    )
    assert creds is not None
    assert (creds.username, creds.realm, creds.nonce, creds.response, creds.qop) == (
        'a"b',
        "r,1",
        "n",
        "abc",
        "auth",
    )
    assert digest.parse_authorization("Basic abc") is None
    assert digest.parse_authorization('Digest username="a"') is None
    assert digest.parse_authorization("Digest " + "x" * 5000) is None


@given(st.text(max_size=300))
def test_parsing_never_raises(text: str) -> None:
    digest.parse_authorization("Digest " + text)


def test_limiter_blocks_after_n_failures_in_the_window_loopback_included() -> None:
    limiter = FailureLimiter(max_failures=3, window_s=60, block_s=300)
    assert not limiter.failed("127.0.0.1", 0.0)
    assert not limiter.failed("127.0.0.1", 1.0)
    assert limiter.failed("127.0.0.1", 2.0)
    assert limiter.blocked("127.0.0.1", 3.0)
    assert not limiter.blocked("10.0.0.1", 3.0)
    assert limiter.blocked("127.0.0.1", 301.0)
    assert not limiter.blocked("127.0.0.1", 303.0)


def test_limiter_forgets_failures_outside_the_window() -> None:
    limiter = FailureLimiter(max_failures=3, window_s=60, block_s=300)
    for t in (0.0, 30.0, 61.0, 100.0):
        assert not limiter.failed("h", t)
    limiter.prune(1000.0)
    assert not limiter.blocked("h", 1000.0)


def test_info_digits() -> None:
    assert _info_digit("Signal=5\r\nDuration=160\r\n") == "5"
    assert _info_digit("Signal= #\nDuration=100") == "#"
    assert _info_digit("*") == "*"
    assert _info_digit("11") == "#"
    assert _info_digit("Signal=55") is None
    assert _info_digit(None) is None
