"""WeChat's message encryption ("safe mode", 安全模式) for pushes.

With an EncodingAESKey set in the Official Account's console, WeChat sends
``<xml><ToUserName/><Encrypt>…</Encrypt></xml>`` and adds ``encrypt_type=aes`` and
``msg_signature`` to the query:

- ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]) concatenated)``;
- the AES key is ``base64decode(EncodingAESKey + "=")`` (43 characters → 32 bytes) and the
  IV its first 16 bytes; AES-256-CBC with PKCS#7 padding to a multiple of 32 bytes;
- the plaintext is ``16 random bytes | length of the message (4 bytes, big-endian) |
  the message (the usual push XML) | the AppID``, and the AppID must be ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from jietong.channels.errors import BadSignature
from jietong.core.errors import InvalidInput

_BLOCK_BITS = 256  # WeChat pads to 32 bytes, not AES's 16


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key behind a 43-character EncodingAESKey; InvalidInput otherwise."""
    if len(encoding_aes_key) != 43:
        raise InvalidInput("encoding_aes_key must be the 43 characters WeChat shows")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise InvalidInput("encoding_aes_key is not WeChat's base64") from None
    if len(key) != 32:
        raise InvalidInput("encoding_aes_key must decode to 32 bytes")
    return key


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def verify_msg_signature(
    token: str, timestamp: str, nonce: str, encrypted: str, signature: str | None
) -> None:
    expected = msg_signature(token, timestamp, nonce, encrypted)
    if not signature or not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise BadSignature("msg_signature does not match the encrypted push")


def decrypt(encoding_aes_key: str, app_id: str, encrypted: str) -> bytes:
    """The push XML inside `encrypted`. BadSignature when it was not made with our key
    for our AppID (it cannot be told apart from a forgery)."""
    key = aes_key(encoding_aes_key)
    try:
        data = base64.b64decode(encrypted, validate=True)
    except binascii.Error:
        raise InvalidInput("Encrypt is not base64") from None
    if not data or len(data) % 16:
        raise InvalidInput("Encrypt has the wrong length for AES")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise BadSignature("the push does not decrypt with our EncodingAESKey") from None
    if len(plain) < 20:
        raise BadSignature("the decrypted push is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, sender = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length or not hmac.compare_digest(sender, app_id.encode()):
        raise BadSignature("the encrypted push is not for this AppID")
    return message


def encrypt(
    encoding_aes_key: str, app_id: str, message: bytes, *, nonce16: bytes | None = None
) -> str:
    """What WeChat would send for `message` (tests; passive encrypted replies)."""
    key = aes_key(encoding_aes_key)
    prefix = os.urandom(16) if nonce16 is None else nonce16
    plain = prefix + struct.pack(">I", len(message)) + message + app_id.encode()
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()
