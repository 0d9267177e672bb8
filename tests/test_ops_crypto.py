"""Field encryption: key ids on ciphertexts, old keys that still open, rotation of every Encrypted column
found in the metadata, column binding, the SM4-GCM / HMAC-SM3 choice, and data written before all this."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select, type_coerce, update
from sqlalchemy.orm import Session

from core import crypto
from core.db import Base
from tests import factories as f

K1 = "11" * 32  # the tests' FIELD_KEY (tests/conftest.py), id k1
K2 = "22" * 32
RESIDENTS = Base.metadata.tables["residents"]  # by name: the test does not care which domain owns the model


@pytest.fixture
def keys(app):
    """Configure the field keys as `overrides` of the app's settings say; the app's keys come back after."""

    def configure(**overrides):
        crypto.configure(app.config["SETTINGS"].replace(**overrides))

    yield configure
    crypto.configure(app.config["SETTINGS"])


def legacy_ciphertext(plaintext: str, field_key: str = K1) -> str:
    """What the app wrote before key ids: AES-GCM under HKDF(FIELD_KEY, "encrypt"), no prefix, no binding."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"encrypt").derive(bytes.fromhex(field_key))
    nonce = os.urandom(12)
    return binascii.b2a_base64(nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), None), newline=False).decode()


def raw(column: str, resident_id: int) -> str:
    """The stored ciphertext, as a database dump shows it."""
    from core import db as core_db

    stored = type_coerce(RESIDENTS.c[column], String())
    return core_db.session.scalar(select(stored).where(RESIDENTS.c.id == resident_id))


def test_a_ciphertext_carries_the_id_of_the_key_that_sealed_it(app, keys):
    assert crypto.encrypt("13812345678").startswith("k1:")
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})
    assert crypto.encrypt("13812345678").startswith("k2:")


def test_an_old_key_still_opens_what_it_sealed(app, keys):
    sealed_by_k1 = crypto.encrypt("13812345678")
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})
    assert crypto.decrypt(sealed_by_k1) == "13812345678"


def test_a_ciphertext_of_a_key_no_longer_configured_is_refused_by_name(app, keys):
    sealed_by_k1 = crypto.encrypt("13812345678")
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={}, LOOKUP_KEY="33" * 32)
    with pytest.raises(crypto.UnknownKey, match="'k1'"):
        crypto.decrypt(sealed_by_k1)


def test_a_value_written_before_key_ids_is_read_with_key_k1(app, keys):
    old = legacy_ciphertext("430523198005010026")
    assert crypto.decrypt(old) == "430523198005010026"
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})
    assert crypto.decrypt(old, "residents.id_number") == "430523198005010026"


def test_a_value_bound_to_one_column_does_not_open_in_another(app):
    sealed = crypto.Encrypted("residents.phone").process_bind_param("13812345678", None)
    assert crypto.Encrypted("residents.phone").process_result_value(sealed, None) == "13812345678"
    with pytest.raises(InvalidTag):
        crypto.Encrypted("residents.id_number").process_result_value(sealed, None)
    with pytest.raises(InvalidTag):
        crypto.decrypt(sealed)  # nor unbound


def test_lookup_hashes_do_not_change_when_the_field_key_rotates(app, keys):
    before = crypto.lookup_hash("430523198005010026")
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})
    assert crypto.lookup_hash("430523198005010026") == before


@pytest.mark.parametrize("value", ["430523198005010026", "13812345678", "", "张三"])
def test_lookup_hashes_stay_hmac_sha256_under_the_key_derived_from_k1(app, value):
    """The hashes stored so far are Python's hmac.new of this key: a faster HMAC must give the same bytes."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lookup").derive(bytes.fromhex(K1))
    assert crypto.lookup_hash(value) == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_sm4_gcm_seals_as_rfc_8998_says():
    key = crypto.FieldKey("k9", "sm4-gcm", bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    sealed = key.seal(bytes.fromhex("00001234567800000000ABCD"), bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF"
        "EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"), bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"))
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15"
        "A56834CBCF98C397B4024A2691233B8D" "83DE3541E4C2B58177E065A9BF7B62EC")


def test_sm3_hashes_as_gb_t_32905_says():
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_with_sm4_gcm_and_hmac_sm3_a_resident_is_stored_and_found(db, keys):
    keys(FIELD_CIPHER="sm4-gcm", FIELD_KEY=K2, FIELD_KEY_ID="g1", FIELD_OLD_KEYS={"k1": K1}, LOOKUP_HASH="hmac-sm3")
    f.regions()
    resident = f.resident(openid="wx-sm4")
    db.expire_all()
    token = raw("id_number", resident.id)
    assert token.startswith("g1:")
    nonce_and_sealed = binascii.a2b_base64(token.removeprefix("g1:"))
    sm4 = crypto._ring().current
    decryptor = Cipher(algorithms.SM4(sm4.key), modes.GCM(nonce_and_sealed[:12], nonce_and_sealed[-16:])).decryptor()
    decryptor.authenticate_additional_data(b"residents.id_number")  # the column the ciphertext is bound to
    assert (decryptor.update(nonce_and_sealed[12:-16]) + decryptor.finalize()).decode() == resident.id_number
    found = db.scalar(select(RESIDENTS.c.id).where(RESIDENTS.c.id_number_hash == crypto.lookup_hash(resident.id_number)))
    assert found == resident.id


def test_rotate_field_key_rewrites_every_encrypted_column_of_the_schema(app, db, keys):
    found = {f"{table}.{column.name}" for table, columns in crypto.encrypted_columns(Base.metadata).items()
             for column in columns}
    assert {"residents.id_number", "residents.phone"} <= found
    f.regions()
    people = [f.resident(openid=f"wx-rotate-{i}") for i in range(3)]
    for i, person in enumerate(people):
        person.phone = f"1381234567{i}"
    db.commit()
    stored_phone = type_coerce(RESIDENTS.c.phone, String())
    db.execute(update(RESIDENTS).where(RESIDENTS.c.id == people[0].id)
               .values({stored_phone: legacy_ciphertext("13812345670")}))
    db.commit()
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})

    result = app.test_cli_runner().invoke(args=["db", "rotate-field-key", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "residents.id_number: 3 rewritten" in result.output
    assert "residents.phone: 3 rewritten" in result.output
    assert all(raw(column, person.id).startswith("k2:") for person in people for column in ("id_number", "phone"))
    keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={}, LOOKUP_KEY="33" * 32)  # k1 can now go
    db.expire_all()
    assert [db.get(type(person), person.id).phone for person in people] == ["13812345670", "13812345671", "13812345672"]
    again = app.test_cli_runner().invoke(args=["db", "rotate-field-key"])
    assert "residents.phone: 0 rewritten" in again.output


def test_rotation_binds_values_to_their_columns_across_batches_and_composite_keys(app, keys):
    metadata = MetaData()
    notes = Table("notes", metadata, Column("book", Integer, primary_key=True), Column("page", Integer, primary_key=True),
                  Column("body", crypto.Encrypted("notes.body")), Column("plain", String(20)))
    as_stored = Table("notes", MetaData(), Column("book", Integer), Column("page", Integer), Column("body", String),
                      Column("plain", String))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rows = [{"book": book, "page": page, "body": legacy_ciphertext(f"note {book}.{page}"), "plain": "x"}
            for book in (1, 2) for page in (1, 2, 3)]
    with Session(engine) as session:
        session.execute(as_stored.insert(), rows)
        session.commit()
        keys(FIELD_KEY=K2, FIELD_KEY_ID="k2", FIELD_OLD_KEYS={"k1": K1})

        assert crypto.reencrypt(session, metadata, batch_size=4) == {"notes.body": 6}

        stored = session.execute(select(notes.c.book, notes.c.page, type_coerce(notes.c.body, String()))).all()
        for book, page, token in stored:
            assert token.startswith("k2:")
            assert crypto.decrypt(token, "notes.body") == f"note {book}.{page}"
            with pytest.raises(InvalidTag):
                crypto.decrypt(token, "notes.other")
        assert crypto.reencrypt(session, metadata, batch_size=4) == {"notes.body": 0}
