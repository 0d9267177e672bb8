"""Hot read paths answer in a fixed number of statements, whatever the size of what they read (issue 15)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event

from core import db as core_db
from registry.models import Household
from tests import factories as f
from tests.factories_notifications import visit


@contextmanager
def counted_statements():
    """The SELECT/INSERT/UPDATE/DELETE statements the app sends while the block runs (not BEGIN/ping)."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            seen.append(statement)

    engine = core_db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def household_with_children(centre, children: int):
    household = Household()
    parent = f.resident(name="王母亲", openid=f"openid-parent-{children}", born=date(1990, 1, 1), household=household)
    visit(parent, centre, date(2026, 3, 1))
    for n in range(children):
        child = f.resident(name=f"王孩{n}", born=date(2025, 6, 1 + n), household=household)
        visit(child, centre, date(2026, 2, 1 + n))
    return parent


def test_my_visits_takes_the_same_statements_for_one_child_or_four(client, db):
    f.regions()
    centre = f.centre()
    small, large = household_with_children(centre, 1), household_with_children(centre, 4)
    answers = {}
    for parent in (small, large):
        headers = f.as_resident(parent)
        core_db.session.expunge_all()  # the request loads what it needs, as a fresh worker would
        with counted_statements() as seen:
            response = client.get("/api/v1/me/visits", headers=headers)
        assert response.status_code == 200
        answers[parent.id] = (len(response.get_json()["items"]), [sql for sql in seen if reads_people(sql)])
    (small_visits, small_statements), (large_visits, large_statements) = answers[small.id], answers[large.id]
    assert large_visits > small_visits > 0
    assert len(large_statements) == len(small_statements) == 2  # the caller, then the household's visits


def reads_people(sql: str) -> bool:
    """A statement over residents, households or visits (not the session or audit bookkeeping around them)."""
    return any(f"FROM {table}" in sql or f"JOIN {table}" in sql for table in ("residents", "households", "visits"))
