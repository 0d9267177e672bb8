"""Migration 0021: on PostgreSQL the outbox is partitioned by a hash of its dedupe key, and the dedupe key is still
unique by the database across every partition; on SQLite the migration changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from core import clock
from notifications import outbox
from notifications.models import Kind, MessageState, OutboxMessage
from tests import factories as f

CONTENT = {"title": "高血压随访", "date": "2026-03-19", "place": "塘渡口镇卫生院"}


def _postgresql(db) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("partitioning is PostgreSQL's; 0021 is skipped on SQLite")


def _row(key: str, resident_id: int) -> dict:
    return dict(dedupe_key=key, kind=Kind.VISIT_DUE, content=CONTENT, resident_id=resident_id, state=MessageState.PENDING,
                attempts=0, holds_grant=False, next_attempt_at=clock.now(), created_at=clock.now(), updated_at=clock.now())


def test_the_outbox_is_hash_partitioned_by_its_dedupe_key_on_postgresql(db):
    _postgresql(db)
    strategy, key = db.execute(text(
        "SELECT p.partstrat, a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
        "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = 'outbox_messages'::regclass")).one()
    assert (strategy, key) == ("h", "dedupe_key")
    assert db.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox_messages'::regclass")) == 8


def test_messages_spread_over_the_partitions_and_are_all_dispatched(db, wechat):
    _postgresql(db)
    f.regions()
    person = f.resident(openid="o-spread")
    assert outbox.enqueue_many([dict(dedupe_key=f"visit:{n}:3:2026-03-19", kind=Kind.VISIT_DUE, content=CONTENT,
                                     resident_id=person.id) for n in range(40)]) == 40
    db.commit()
    assert db.scalar(select(func.count(text("DISTINCT tableoid"))).select_from(OutboxMessage)) > 1
    assert outbox.dispatch(worker="test") == {"permanent": 40}  # no grant and no phone: every one claimed and settled
    assert db.scalar(select(func.count()).where(OutboxMessage.state == MessageState.FAILED)) == 40


def test_a_dedupe_key_already_in_any_partition_is_refused_by_the_database_and_nothing_is_written(db):
    f.regions()
    person = f.resident()
    keys = [f"visit:{n}:0:2026-03-16" for n in range(16)]
    db.execute(insert(OutboxMessage), [_row(key, person.id) for key in keys])
    db.commit()
    for key in keys:
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                db.execute(insert(OutboxMessage).values(_row(key, person.id)))
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 16
    assert not outbox.enqueue(dedupe_key=keys[0], kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id)
