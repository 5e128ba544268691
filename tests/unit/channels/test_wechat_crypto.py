"""WeChat safe mode against the sample published with Tencent's WXBizMsgCrypt
(token "spamtest", the alphabet EncodingAESKey, AppID wx2c2769f8efd9abc2): our code
must read what WeChat's own code wrote, and WeChat's code what ours writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.channels.errors import BadSignature
from jietong.channels.wechat import crypto
from jietong.core.errors import InvalidInput

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
SAMPLE = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8"
    "PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa"
    "+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8"
    "tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9Fy"
    "JvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_the_published_sample_decrypts_and_its_signature_verifies() -> None:
    crypto.verify_msg_signature(
        "spamtest", "1409735669", "1320562132", SAMPLE, "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    )
    xml = crypto.decrypt(KEY, APP_ID, SAMPLE)
    assert xml.startswith(b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]>")
    assert b"<Content><![CDATA[abcdteT]]></Content>" in xml


def test_a_push_for_another_account_or_key_is_refused() -> None:
    with pytest.raises(BadSignature):
        crypto.decrypt(KEY, "wx0000000000000000", SAMPLE)
    with pytest.raises(BadSignature):
        crypto.decrypt("B" * 43, APP_ID, SAMPLE)
    with pytest.raises(BadSignature):
        crypto.verify_msg_signature("spamtest", "1409735669", "other", SAMPLE, "5d197aaf")
    with pytest.raises(InvalidInput):
        crypto.decrypt(KEY[:-1], APP_ID, SAMPLE)  # 42 characters: not a key
    with pytest.raises(InvalidInput):
        crypto.decrypt(KEY, APP_ID, "not base64!")


@given(message=st.binary(max_size=3000), prefix=st.binary(min_size=16, max_size=16))
def test_what_we_encrypt_decrypts_to_the_same_message(message: bytes, prefix: bytes) -> None:
    encrypted = crypto.encrypt(KEY, APP_ID, message, nonce16=prefix)
    assert crypto.decrypt(KEY, APP_ID, encrypted) == message
