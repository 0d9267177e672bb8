"""Personal data at rest: ID numbers and phones encrypted (AES-256-GCM, or SM4-GCM), a keyed hash beside
them for lookups (HMAC-SHA256, or HMAC-SM3).

A database dump shows ciphertext and keyed hashes only. A ciphertext reads `<key id>:<base64(nonce,
sealed text, tag)>`: the key id names the configured key that sealed it, so keys can rotate — the current
key (FIELD_KEY, FIELD_KEY_ID) seals, retired ones (FIELD_OLD_KEYS) still open, and `reencrypt` (the CLI's
`flask db rotate-field-key`) rewrites what the current key did not seal. A value without a key id was
written before ids existed, by the key now called k1, and stays readable. The cipher belongs to the key,
so moving from AES to SM4 is a rotation too.

A column declared `Encrypted("residents.id_number")` binds each ciphertext to that name (GCM associated
data): a value copied into another column does not open there. Values written before the binding (or by
`encrypt()` without a context, as bulk loads do) still open, and rotation binds them.

The lookup hash does not rotate with FIELD_KEY (its key is LOOKUP_KEY, or derived from key k1): stored
hashes stay valid while ciphertexts are rewritten. Keys are derived with HKDF (SHA-256 for AES and
HMAC-SHA256, SM3 for SM4 and HMAC-SM3); in development without FIELD_KEY, from SECRET_KEY.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, String, bindparam, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from core.config import LEGACY_KEY_ID

NONCE_BYTES = 12
TAG_BYTES = 16


def _derive(material: bytes, *, info: bytes, length: int, algorithm: hashes.HashAlgorithm) -> bytes:
    return HKDF(algorithm=algorithm, length=length, salt=None, info=info).derive(material)


@dataclass(frozen=True)
class FieldKey:
    """One configured key, with the cipher it seals with."""

    key_id: str
    cipher: str
    key: bytes

    @classmethod
    def derive(cls, key_id: str, cipher: str, material: bytes) -> "FieldKey":
        if cipher == "sm4-gcm":
            return cls(key_id, cipher, _derive(material, info=b"encrypt-sm4", length=16, algorithm=hashes.SM3()))
        return cls(key_id, cipher, _derive(material, info=b"encrypt", length=32, algorithm=hashes.SHA256()))

    @functools.cached_property
    def _aesgcm(self) -> AESGCM:
        """One AESGCM per key, reused: making one per value was most of a roster's decryption time."""
        return AESGCM(self.key)

    def seal(self, nonce: bytes, plaintext: bytes, associated: bytes | None) -> bytes:
        if self.cipher == "sm4-gcm":
            encryptor = Cipher(algorithms.SM4(self.key), modes.GCM(nonce)).encryptor()
            if associated:
                encryptor.authenticate_additional_data(associated)
            return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
        return self._aesgcm.encrypt(nonce, plaintext, associated)

    def open(self, nonce: bytes, sealed: bytes, associated: bytes | None) -> bytes:
        """The plaintext; InvalidTag when the key, the associated data or a byte is wrong."""
        if self.cipher == "sm4-gcm":
            if len(sealed) < TAG_BYTES:
                raise InvalidTag
            decryptor = Cipher(algorithms.SM4(self.key), modes.GCM(nonce, sealed[-TAG_BYTES:])).decryptor()
            if associated:
                decryptor.authenticate_additional_data(associated)
            return decryptor.update(sealed[:-TAG_BYTES]) + decryptor.finalize()
        return self._aesgcm.decrypt(nonce, sealed, associated)


@dataclass(frozen=True)
class Keyring:
    current: FieldKey
    keys: dict[str, FieldKey]
    lookup: Callable[[bytes], str]
    pseudonym_key: bytes


_keyring: Keyring | None = None


def configure(settings) -> None:
    """Derive the field keys, the lookup hash and the pseudonym key from Settings (core/config.py)."""
    global _keyring
    keys = [FieldKey.derive(key_id, cipher, material) for key_id, cipher, material in settings.field_keys()]
    material = settings.lookup_key_material()
    if settings.LOOKUP_HASH == "hmac-sm3":
        lookup_key = _derive(material, info=b"lookup", length=32, algorithm=hashes.SM3())

        def lookup(value: bytes) -> str:
            mac = crypto_hmac.HMAC(lookup_key, hashes.SM3())
            mac.update(value)
            return mac.finalize().hex()
    else:
        lookup = _hmac_sha256(_derive(material, info=b"lookup", length=32, algorithm=hashes.SHA256()))

    pseudonym_key = _derive(settings.SECRET_KEY.encode(), info=b"pseudonym", length=32, algorithm=hashes.SHA256())
    _keyring = Keyring(keys[0], {key.key_id: key for key in keys}, lookup, pseudonym_key)


def _hmac_sha256(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 under `key` (RFC 2104, key shorter than SHA-256's 64-byte block), hex: the same digest as
    `hmac.new(key, value, sha256)`, from the two padded-key states hashed once here and copied per value.
    `hmac.new` (and OpenSSL's one-shot HMAC) set the key up again on every call: 3-4 µs a value against 0.7,
    which a 1M-row import pays twice a row."""
    padded = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))

    def digest(value: bytes) -> str:
        hashed = inner.copy()
        hashed.update(value)
        result = outer.copy()
        result.update(hashed.digest())
        return result.hexdigest()

    return digest


def _ring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("core.crypto.configure() has not been called")
    return _keyring


def current_key_id() -> str:
    return _ring().current.key_id


class UnknownKey(ValueError):
    """A ciphertext names a key that is not configured (retired too early, or another deployment's data)."""


def encrypt(plaintext: str, context: str | None = None) -> str:
    """Seal with the current key; `context` (e.g. "residents.phone") binds the ciphertext to its column."""
    key = _ring().current
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.seal(nonce, plaintext.encode(), context.encode() if context else None)
    return f"{key.key_id}:{binascii.b2a_base64(nonce + sealed, newline=False).decode()}"


def _open(token: str, context: str | None) -> tuple[str, bool]:
    """The plaintext, and whether the ciphertext is as `encrypt` would write it now (current key, bound)."""
    ring = _ring()
    key_id, marked, body = token.rpartition(":")  # base64 has no ':'
    key_id = key_id if marked else LEGACY_KEY_ID
    key = ring.keys.get(key_id)
    if key is None:
        raise UnknownKey(f"sealed by key {key_id!r}, which is not configured")
    raw = binascii.a2b_base64(body)
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    if context and marked:
        try:
            return key.open(nonce, sealed, context.encode()).decode(), key is ring.current
        except InvalidTag:
            pass  # written before its column was bound: read it unbound below
    return key.open(nonce, sealed, None).decode(), key is ring.current and not context and bool(marked)


def decrypt(token: str, context: str | None = None) -> str:
    return _open(token, context)[0]


def rewritten(token: str, context: str | None = None) -> str | None:
    """The ciphertext the current key would write for the same value, or None when `token` already is one."""
    plaintext, current = _open(token, context)
    return None if current else encrypt(plaintext, context)


def seal(data: bytes, context: str) -> bytes:
    """Bytes (a whole file) sealed with the current key and bound to `context`: the key id's length in one byte,
    the key id, the nonce, the sealed bytes."""
    key = _ring().current
    nonce = os.urandom(NONCE_BYTES)
    key_id = key.key_id.encode()
    return bytes([len(key_id)]) + key_id + nonce + key.seal(nonce, data, context.encode())


def unseal(blob: bytes, context: str) -> bytes:
    """What `seal` sealed; UnknownKey when its key is no longer configured, InvalidTag when it was altered."""
    end = 1 + blob[0]
    key = _ring().keys.get(blob[1:end].decode())
    if key is None:
        raise UnknownKey(f"sealed by key {blob[1:end].decode()!r}, which is not configured")
    return key.open(blob[end:end + NONCE_BYTES], blob[end + NONCE_BYTES:], context.encode())


def lookup_hash(value: str) -> str:
    """A keyed hash for equality lookups and unique indexes on encrypted values."""
    return _ring().lookup(value.encode())


def pseudonym(value: str) -> str:
    """A stable stand-in for an identifier (an openid, an address) where it would otherwise be written
    down in clear: rate-limit keys in Redis and in logs."""
    return hmac.new(_ring().pseudonym_key, value.encode(), hashlib.sha256).hexdigest()[:32]


class Encrypted(TypeDecorator):
    """A string column stored as ciphertext; `Encrypted("table.column")` binds each value to that column."""

    impl = String(255)
    cache_ok = True

    def __init__(self, context: str | None = None):
        super().__init__()
        self.context = context

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value, self.context)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value, self.context)


def encrypted_columns(metadata: MetaData) -> dict[str, list]:
    """Every Encrypted column of the schema, by table name."""
    found: dict[str, list] = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Encrypted):
                found.setdefault(table.name, []).append(column)
    return found


def reencrypt(session: Session, metadata: MetaData, *, batch_size: int = 500) -> dict[str, int]:
    """Rewrite, batch by batch, every Encrypted value the current key did not seal (or that is not yet
    bound to its column); returns how many values of each `table.column` were rewritten.

    Each batch commits on its own, so a long run holds no long locks and can be stopped and run again.
    A row a request changes meanwhile is left alone: its new value was written with the current key.
    """
    counts: dict[str, int] = {}
    for table_name, columns in encrypted_columns(metadata).items():
        table = metadata.tables[table_name]
        keys = list(table.primary_key.columns)
        raw = {column.name: type_coerce(column, String()) for column in columns}
        after = None
        while True:
            query = select(*keys, *raw.values()).order_by(*keys).limit(batch_size)
            if after is not None:
                query = query.where(tuple_(*keys) > tuple_(*after) if len(keys) > 1 else keys[0] > after[0])
            rows = session.execute(query).all()
            for position, column in enumerate(columns, start=len(keys)):
                changes = []
                for row in rows:
                    if row[position] is not None and (new := rewritten(row[position], column.type.context)):
                        changes.append({**{f"rotate_key_{i}": row[i] for i in range(len(keys))},
                                        "rotate_old": row[position], "rotate_new": new})
                if changes:
                    session.execute(
                        update(table)
                        .where(*(key == bindparam(f"rotate_key_{i}") for i, key in enumerate(keys)),
                               raw[column.name] == bindparam("rotate_old", type_=String()))
                        .values({column.name: bindparam("rotate_new", type_=String())}),
                        changes,
                    )
                name = f"{table_name}.{column.name}"
                counts[name] = counts.get(name, 0) + len(changes)
            session.commit()
            if len(rows) < batch_size:
                break
            after = rows[-1][: len(keys)]
    return counts


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
