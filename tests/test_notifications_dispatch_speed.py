"""The reminder scan and the dispatcher do their reading per scan and per batch, never per message: the statements
they send are counted (SQLAlchemy's before_cursor_execute) for N and for 2N messages."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event, select

from core import db as core_db
from notifications import jobs, outbox
from notifications.models import Kind, MessageState, OptOut, OutboxMessage
from tests import factories as f
from tests.factories_notifications import subscribed, visit

MARKERS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN")


@contextmanager
def counted(app, engine=None):
    """The statements the engine (the app's unless given) sends while the block runs (a list of their SQL), without
    the transaction markers (the tests' SAVEPOINTs stand for each transaction's BEGIN and COMMIT, and SQLite's BEGIN
    is a statement)."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if not statement.startswith(MARKERS):
            sent.append(statement)

    engine = engine or app.extensions["engine"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@contextmanager
def checkouts(engine):
    """The connections taken from the engine's pool while the block runs (a list, one entry a checkout)."""
    taken: list[bool] = []

    def checkout(*_args):
        taken.append(True)

    event.listen(engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(engine, "checkout", checkout)


def _due_visits(count: int, centre, *, opted_out: int = 0) -> None:
    """`count` residents with a visit due in three days; the first `opted_out` of them turned visit reminders off."""
    for n in range(count):
        person = f.resident(openid=f"o-scan-{count}-{n}")
        visit(person, centre, date(2026, 3, 19))
        if n < opted_out:
            core_db.session.add(OptOut(resident_id=person.id, kind=Kind.VISIT_DUE))
    core_db.session.commit()


def _scan(app, count: int, centre) -> tuple[int, int]:
    """Statements and messages of a visit reminder scan over `count` due visits (one of them opted out)."""
    _due_visits(count, centre, opted_out=1)
    with counted(app) as sent:
        created = jobs.remind_visits()
    core_db.session.execute(OutboxMessage.__table__.delete())
    core_db.session.execute(OptOut.__table__.delete())
    core_db.session.commit()
    return len(sent), created


def test_the_reminder_scan_sends_as_many_statements_for_twice_the_visits(app, db):
    f.regions()
    centre = f.centre()
    statements, created = _scan(app, 4, centre)
    twice, created_twice = _scan(app, 8, centre)
    assert (created, created_twice) == (3, 4 + 7)  # the first scan's 4 visits are still due (their opt-out is gone)
    assert twice == statements


def test_the_set_based_scan_leaves_out_a_resident_who_turned_visit_reminders_off(app, db):
    f.regions()
    centre = f.centre()
    _due_visits(3, centre, opted_out=1)
    assert jobs.remind_visits() == 2
    opted = db.scalar(select(OptOut.resident_id))
    assert opted not in set(db.scalars(select(OutboxMessage.resident_id)))


def _waiting(count: int) -> None:
    """`count` waiting messages to residents with a long-term WeChat grant."""
    for n in range(count):
        person = f.resident(openid=f"o-send-{count}-{n}")
        subscribed(person, credits=0).long_term = True
        outbox.enqueue(dedupe_key=f"visit:{count}:{n}", kind=Kind.VISIT_DUE, resident_id=person.id,
                       content={"title": "高血压随访", "date": "2026-03-19", "place": "塘渡口镇卫生院"})
    core_db.session.commit()


def _dispatch(app, count: int) -> tuple[int, dict]:
    """Statements of dispatching `count` waiting messages."""
    _waiting(count)
    with counted(app) as sent:
        report = outbox.dispatch(worker="test")
    return len(sent), report


def test_dispatch_reads_once_per_batch_and_writes_one_outcome_a_message(app, db, wechat):
    f.regions()
    _dispatch(app, 1)  # the access token is fetched and stored: both counted runs read it the same way
    statements, report = _dispatch(app, 3)
    twice, report_twice = _dispatch(app, 6)
    assert (report, report_twice) == ({"sent": 3}, {"sent": 6})
    assert twice - statements == 3  # one outcome UPDATE a message more, and nothing else
    assert db.scalars(select(OutboxMessage.state)).all() == [MessageState.SENT] * 10


def _dispatch_committed(app, count: int) -> tuple[int, int, dict]:
    """Statements and pool checkouts of dispatching `count` waiting messages on a database whose commits are real."""
    _waiting(count)
    engine = core_db.session.get_bind()
    with counted(app, engine) as sent, checkouts(engine) as taken:
        report = outbox.dispatch()
    return len(sent), len(taken), report


def test_dispatch_writes_its_outcomes_on_one_connection_held_for_the_run(app, committed_db, wechat):
    """Each outcome is committed by itself, yet twice the messages take no more connections from the pool."""
    f.regions()
    _dispatch_committed(app, 1)
    statements, taken, report = _dispatch_committed(app, 3)
    twice, taken_twice, report_twice = _dispatch_committed(app, 6)
    assert (report, report_twice) == ({"sent": 3}, {"sent": 6})
    assert twice - statements == 3
    assert taken_twice == taken
    states = core_db.session.scalars(select(OutboxMessage.state).execution_options(populate_existing=True)).all()
    assert states == [MessageState.SENT] * 10
