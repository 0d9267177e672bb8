"""Migration 0021: on PostgreSQL the outbox is partitioned by a hash of its dedupe key, and the dedupe key is still
unique by the database across every partition; on SQLite the migration changes nothing.

Migration 0023: on PostgreSQL visits are partitioned by a hash of the resident; on both databases a visit record,
booking or referral names the visit's resident, and the database refuses one that names another."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from care.delivery_models import Booking, Referral, Slot, Urgency
from care.models import Timeliness, Visit, VisitMode, VisitRecord
from core import clock, migrate
from core import db as core_db
from notifications import outbox
from notifications.models import Kind, MessageState, OutboxMessage
from tests import factories as f
from tests.conftest import DATABASES, _create_pg_database

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


# Visits (migration 0023): partitioned by a hash of the resident; what refers to a visit names its resident.

def _visit(resident_id: int, centre_id: int, code: str) -> Visit:
    day = clock.today()
    visit = Visit(resident_id=resident_id, centre_id=centre_id, programme="hypertension", code=code, title="随访",
                  protocol_version="2025", due_date=day, on_time_from=day, on_time_until=day)
    core_db.session.add(visit)
    core_db.session.flush()
    return visit


def test_visits_are_hash_partitioned_by_resident_on_postgresql_and_a_residents_visits_share_a_partition(db):
    _postgresql(db)
    strategy, key = db.execute(text(
        "SELECT p.partstrat, a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
        "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = 'visits'::regclass")).one()
    assert (strategy, key) == ("h", "resident_id")
    assert db.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'visits'::regclass")) == 8
    f.regions()
    centre = f.centre()
    people = [f.resident() for _ in range(12)]
    for person in people:
        for n in range(3):
            _visit(person.id, centre.id, f"q{n}")
    where = db.execute(text("SELECT resident_id, count(DISTINCT tableoid) FROM visits GROUP BY resident_id")).all()
    assert {count for _, count in where} == {1}
    assert db.scalar(text("SELECT count(DISTINCT tableoid) FROM visits")) > 1


def test_a_record_booking_or_referral_of_another_residents_visit_is_refused_by_the_database_and_nothing_is_written(db):
    f.regions()
    centre = f.centre()
    owner, stranger = f.resident(), f.resident()
    doctor = f.staff(centre=centre)
    visit = _visit(owner.id, centre.id, "q1")
    day = clock.today()
    slot = Slot(centre_id=centre.id, title="门诊", starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=1),
                capacity=1, created_by="test")
    db.add(slot)
    db.flush()
    wrong = [
        VisitRecord(visit_id=visit.id, resident_id=stranger.id, revision=1, author_id=doctor.id, served_on=day,
                    mode=VisitMode.CLINIC, on_time_from=day, on_time_until=day, timeliness=Timeliness.ON_TIME),
        Booking(slot_id=slot.id, resident_id=stranger.id, visit_id=visit.id, booked_by="test"),
        Referral(resident_id=stranger.id, centre_id=centre.id, referred_by="test", hospital="县人民医院", reason="复诊",
                 urgency=Urgency.ROUTINE, sent_on=day, expected_by=day, visit_id=visit.id),
    ]
    for row in wrong:
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                db.add(row)
                db.flush()
    for model in (VisitRecord, Booking, Referral):
        assert db.scalar(select(func.count()).select_from(model)) == 0
    db.add(Booking(slot_id=slot.id, resident_id=owner.id, visit_id=visit.id, booked_by="test"))
    db.flush()  # the visit's own resident is taken


def _at_0022_with_visits(url: str) -> None:
    migrate.upgrade(url, "0022")
    statements = [
        "INSERT INTO regions (code, name) VALUES ('430523', '邵阳县')",
        "INSERT INTO centres (id, code, name, region_code, takes_part) VALUES (1, 'C1', '塘渡口镇卫生院', '430523', true)",
        "INSERT INTO staff (id, username, password_hash, name, role, active) VALUES (1, 'doc', 'x', '李医生', 'doctor', true)",
        *(f"INSERT INTO residents (id, name, birth_date, sex, insurance_scheme, has_health_record, in_insurance_master, "
          f"created_at, updated_at) VALUES ({n}, '居民{n}', '1960-01-01', 'female', 'resident', true, true, "
          f"'2026-01-01', '2026-01-01')" for n in (1, 2)),
        *(f"INSERT INTO visits (id, resident_id, centre_id, programme, code, title, protocol_version, due_date, "
          f"on_time_from, on_time_until, state, created_at, updated_at) VALUES ({n}, {n % 2 + 1}, 1, 'hypertension', "
          f"'q{n}', '随访', '2025', '2026-03-16', '2026-03-01', '2026-03-31', 'planned', '2026-01-01', '2026-01-01')"
          for n in (1, 2, 3)),
        "INSERT INTO visit_records (id, visit_id, revision, current, author_id, served_on, mode, referral, on_time_from, "
        "on_time_until, timeliness, recorded_at) VALUES (1, 3, 1, true, 1, '2026-03-16', 'clinic', false, '2026-03-01', "
        "'2026-03-31', 'on_time', '2026-03-16')",
        "INSERT INTO referrals (id, resident_id, centre_id, referred_by, hospital, reason, urgency, state, sent_on, "
        "expected_by, visit_id, created_at, updated_at) VALUES (1, 1, 1, 'doc', '县人民医院', '复诊', 'routine', 'sent', "
        "'2026-03-16', '2026-03-30', 2, '2026-01-01', '2026-01-01')",
        "INSERT INTO slots (id, centre_id, title, starts_at, ends_at, capacity, booked, created_by, created_at) VALUES "
        "(1, 1, '门诊', '2026-03-20 09:00', '2026-03-20 10:00', 2, 1, 'doc', '2026-01-01')",
        *(f"INSERT INTO bookings (id, slot_id, resident_id, visit_id, state, booked_by, moved_from_id, created_at, "
          f"updated_at) VALUES ({n}, 1, 2, 1, '{state}', 'doc', {moved}, '2026-01-01', '2026-01-01')"
          for n, state, moved in ((1, "moved", "NULL"), (2, "booked", 1))),
    ]
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture(params=DATABASES)
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jiayi.sqlite'}"
        return
    url, drop = _create_pg_database()
    yield url
    drop()


def test_partitioning_visits_keeps_every_visit_and_what_refers_to_it_both_ways(fresh_url):
    _at_0022_with_visits(fresh_url)
    migrate.upgrade(fresh_url)
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as connection:
            assert connection.execute(text("SELECT id, resident_id FROM visits ORDER BY id")).all() == [(1, 2), (2, 1), (3, 2)]
            assert connection.execute(text("SELECT visit_id, resident_id FROM visit_records")).all() == [(3, 2)]
            assert connection.execute(text("SELECT visit_id, resident_id FROM referrals")).all() == [(2, 1)]
            assert connection.execute(text("SELECT id, visit_id, moved_from_id FROM bookings ORDER BY id")).all() == \
                [(1, 1, None), (2, 1, 1)]
        migrate.upgrade(fresh_url, "0022")
        with engine.begin() as connection:
            assert connection.execute(text("SELECT id, resident_id FROM visits ORDER BY id")).all() == [(1, 2), (2, 1), (3, 2)]
            assert connection.execute(text("SELECT visit_id FROM visit_records")).all() == [(3,)]
    finally:
        engine.dispose()
