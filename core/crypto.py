"""Personal data at rest: AES-256-GCM for ID numbers and phones, an HMAC beside them for lookups.

A database dump shows ciphertext and keyed hashes only; the key comes from config (FIELD_KEY),
or in development is derived from SECRET_KEY.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

_keys: dict[str, bytes] = {}


def configure(field_key_hex: str, secret_key: str) -> None:
    """Derive the encryption and lookup keys from FIELD_KEY (or SECRET_KEY in development)."""
    master = bytes.fromhex(field_key_hex) if field_key_hex else secret_key.encode()
    for purpose in ("encrypt", "lookup"):
        _keys[purpose] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


def _key(purpose: str) -> bytes:
    if not _keys:
        raise RuntimeError("core.crypto.configure() has not been called")
    return _keys[purpose]


def encrypt(plaintext: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key("encrypt")).encrypt(nonce, plaintext.encode(), None)
    return binascii.b2a_base64(nonce + sealed, newline=False).decode()


def decrypt(token: str) -> str:
    raw = binascii.a2b_base64(token)
    return AESGCM(_key("encrypt")).decrypt(raw[:12], raw[12:], None).decode()


def lookup_hash(value: str) -> str:
    """A keyed hash for equality lookups and unique indexes on encrypted values."""
    return hmac.new(_key("lookup"), value.encode(), hashlib.sha256).hexdigest()


class Encrypted(TypeDecorator):
    """A string column stored as AES-GCM ciphertext."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)


def mask_id_number(id_number: str | None) -> str | None:
    """430***********1234: region prefix and last four kept."""
    if not id_number:
        return id_number
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_phone(phone: str | None) -> str | None:
    """138****5678."""
    if not phone:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
