"""Hot paths (issue 15) answer in a fixed number of statements: none grows with what it reads, none reads a
row twice."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event, insert

from core import db as core_db
from registry import populations
from registry.models import Condition, ConditionKind, Household
from tests import factories as f
from tests.factories_notifications import visit
from tests.identity_support import sign_body


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


def statements_of_a_signing(client, centre, person, *, resident_ids: list[int], **body) -> list[str]:
    """The statements of one online signing by `person`, loaded afresh as a new request would."""
    headers = f.as_resident(person)
    core_db.session.expunge_all()
    with counted_statements() as seen:
        response = client.post("/api/v1/agreements", json=sign_body(centre, resident_ids=resident_ids, **body),
                               headers=headers)
    assert response.status_code == 201, response.get_json()
    return seen


def reads_of(seen: list[str], *tables: str) -> dict[str, int]:
    """How many statements read each table (named after FROM or JOIN)."""
    return {table: sum(f"FROM {table} " in sql or f"JOIN {table} " in sql for sql in seen) for table in tables}


def test_a_signing_reads_the_region_and_its_profile_once(client, centres, alice):
    seen = statements_of_a_signing(client, centres["home"], alice, resident_ids=[alice.id])
    assert reads_of(seen, "regions", "policy_profiles") == {"regions": 1, "policy_profiles": 1}


def test_a_signing_reads_its_residents_and_their_team_and_doctor_once(client, centres, alice):
    child = f.resident(name="李小孩", born=date(2020, 5, 1), household=alice.household)
    seen = statements_of_a_signing(client, centres["home"], alice, resident_ids=[alice.id, child.id],
                                   guardian_id=alice.id)
    assert reads_of(seen, "residents") == {"residents": 1}  # the caller and household, locked: no second read
    # Each resident's team with its lead doctor in one statement, and the answer names them without reading again.
    assert reads_of(seen, "teams", "team_members") == {"teams": 2, "team_members": 2}


def test_a_signing_is_one_transaction_of_thirteen_statements_with_its_audit_event(client, centres, alice):
    seen = statements_of_a_signing(client, centres["home"], alice, resident_ids=[alice.id])
    assert len(seen) == 13  # was 21, in two transactions: the caller 3 times, the team and doctor twice
    assert sum("INSERT INTO audit_events" in sql for sql in seen) == 1


def test_a_signing_reads_the_health_facts_once_for_packages_and_plan(client, centres, alice):
    seen = statements_of_a_signing(client, centres["home"], alice, resident_ids=[alice.id])
    assert sum("FROM conditions " in sql for sql in seen) == 1


def condition(person, kind: ConditionKind) -> dict:
    return dict(resident_id=person.id, kind=kind, diagnosed_on=date(2025, 1, 1), recorded_on=date(2025, 1, 1),
                recorded_by="test")


def test_held_health_facts_give_way_to_a_condition_added_in_the_same_transaction(centres, alice):
    assert populations.facts_of([alice])[alice.id].conditions == []
    core_db.session.add(Condition(**condition(alice, ConditionKind.HYPERTENSION)))  # pending, not flushed
    assert [c.kind for c in populations.facts_of([alice])[alice.id].conditions] == [ConditionKind.HYPERTENSION]
    core_db.session.execute(insert(Condition), [condition(alice, ConditionKind.DIABETES)])  # a bulk statement
    assert {c.kind for c in populations.facts_of([alice])[alice.id].conditions} == {
        ConditionKind.HYPERTENSION, ConditionKind.DIABETES}


def test_an_idempotency_key_costs_one_statement_to_claim_and_one_to_keep_the_answer(client, centres, alice):
    headers = {**f.as_resident(alice), "Idempotency-Key": "sign-once-0001"}
    with counted_statements() as seen:
        response = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[alice.id]),
                               headers=headers)
    assert response.status_code == 201
    assert len([sql for sql in seen if "idempotency_records" in sql]) == 2
    again = client.post("/api/v1/agreements", json=sign_body(centres["home"], resident_ids=[alice.id]), headers=headers)
    assert (again.status_code, again.get_json()) == (201, response.get_json())


def test_a_signing_reads_the_cycles_agreements_of_its_residents_once(client, centres, alice):
    child = f.resident(name="李小孩", born=date(2020, 5, 1), household=alice.household)
    seen = statements_of_a_signing(client, centres["home"], alice, resident_ids=[alice.id, child.id],
                                   guardian_id=alice.id)
    assert sum(sql.startswith("SELECT") and "FROM agreements " in sql for sql in seen) == 1
    assert sum("FROM households " in sql for sql in seen) == 0  # the household's members are read by household id
