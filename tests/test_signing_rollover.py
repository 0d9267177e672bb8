"""Cycle roll-over: auto-renewal, terms, change requests and default assignment (signing rules 3–5)."""

from datetime import date

from sqlalchemy import select, update

from core import clock
from registry.models import PolicyProfile
from signing import rollover
from signing.models import Agreement, ChangeRequest
from tests import factories as f

CONSENT = "2025-01"


def sign(client, person, centre, term_years=1):
    response = client.post("/api/v1/agreements", json={"centre_id": centre.id, "term_years": term_years,
                                                       "consent_version": CONSENT}, headers=f.as_resident(person))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["items"][0]["id"]


def in_cycle(db, resident_id, cycle):
    return db.scalars(select(Agreement).where(Agreement.resident_id == resident_id, Agreement.cycle == cycle)).all()


def test_unchanged_agreements_renew_automatically_into_the_next_cycle(client, db, centres, alice):
    old_id = sign(client, alice, centres["home"])
    clock.set_today(date(2027, 1, 1), hour=0)
    report = rollover.roll_over(cycle=2027)
    [renewed] = in_cycle(db, alice.id, 2027)
    assert report.renewed == 1
    assert renewed.centre_id == centres["home"].id and renewed.renewed_from_id == old_id
    assert (renewed.start_date, renewed.end_date, renewed.status.value) == (date(2027, 1, 1), date(2027, 12, 31), "active")
    assert db.get(Agreement, old_id).status.value == "expired"


def test_roll_over_twice_changes_nothing(client, db, centres, alice):
    sign(client, alice, centres["home"])
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    second = rollover.roll_over(cycle=2027)
    assert len(in_cycle(db, alice.id, 2027)) == 1
    assert (second.renewed, second.activated, second.expired) == (0, 0, 0)


def test_roll_over_before_the_cycle_starts_creates_pending_agreements_that_start_on_first_january(
        client, db, centres, alice):
    old_id = sign(client, alice, centres["home"])
    clock.set_today(date(2026, 12, 20))
    rollover.roll_over(cycle=2027)
    [pending] = in_cycle(db, alice.id, 2027)
    assert pending.status.value == "pending" and db.get(Agreement, old_id).status.value == "active"
    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    assert (report.activated, report.expired) == (1, 1)
    db.refresh(pending)
    assert pending.status.value == "active"


def test_a_pending_change_request_moves_the_agreement_to_the_new_centre_on_first_january(client, db, centres, alice):
    old_id = sign(client, alice, centres["home"])
    clock.set_today(date(2026, 10, 15))
    client.post(f"/api/v1/agreements/{old_id}/change-requests", json={"centre_id": centres["other"].id},
                headers=f.as_resident(alice))
    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    [moved] = in_cycle(db, alice.id, 2027)
    assert report.changed_centre == 1 and moved.centre_id == centres["other"].id
    assert db.scalar(select(ChangeRequest.status)).value == "applied"
    assert db.get(Agreement, old_id).status.value == "expired"


def test_a_multi_year_term_runs_on_without_auto_renewal(client, db, centres, alice):
    sign(client, alice, centres["home"], term_years=2)
    db.execute(update(PolicyProfile).values(auto_renew=False))
    db.commit()
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    [second_year] = in_cycle(db, alice.id, 2027)
    assert second_year.term_end_date == date(2027, 12, 31)
    clock.set_today(date(2028, 1, 1))
    rollover.roll_over(cycle=2028)
    assert in_cycle(db, alice.id, 2028) == []


def test_without_auto_renewal_an_ended_term_is_not_renewed(client, db, centres, alice):
    sign(client, alice, centres["home"])
    db.execute(update(PolicyProfile).values(auto_renew=False))
    db.commit()
    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    assert report.renewed == 0 and in_cycle(db, alice.id, 2027) == []


def test_terminated_agreements_are_not_renewed(client, db, centres, alice):
    agreement_id = sign(client, alice, centres["home"])
    doctor = f.staff(centre=centres["home"])
    client.post(f"/api/v1/agreements/{agreement_id}/termination", json={"reason": "death"}, headers=f.as_staff(doctor))
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    assert in_cycle(db, alice.id, 2027) == []


def test_default_assignment_signs_residents_who_chose_nothing_with_their_registration_village(db, centres):
    """Shaoyang 2019 (新邵县 here) assigns the unsigned to their household-registration centre."""
    village = centres["xinshao"].windows[0]
    unsigned = f.resident(home_window_id=village.id, insured_in="430522")
    hunan = f.resident(home_window_id=centres["home"].windows[0].id)
    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    [assigned] = in_cycle(db, unsigned.id, 2027)
    assert report.assigned_by_default == 1
    assert (assigned.centre_id, assigned.window_id, assigned.channel.value) == (centres["xinshao"].id, village.id, "default")
    assert assigned.counts_for_capitation is True
    assert in_cycle(db, hunan.id, 2027) == []  # hunan-2025 has no default assignment


def test_roll_over_runs_from_the_command_line(app, client, db, centres, alice):
    sign(client, alice, centres["home"])
    clock.set_today(date(2027, 1, 1))
    result = app.test_cli_runner().invoke(args=["signing", "roll-over", "--cycle", "2027"])
    assert result.exit_code == 0, result.output
    assert "'renewed': 1" in result.output
    assert len(in_cycle(db, alice.id, 2027)) == 1


def test_the_new_cycle_gets_its_follow_up_plan_and_the_old_one_closes(client, db, centres):
    from care.models import Visit, VisitState

    elder = f.resident(openid="elder", born=date(1945, 6, 1))
    sign(client, elder, centres["home"])
    clock.set_today(date(2027, 1, 1))
    rollover.roll_over(cycle=2027)
    visits = db.scalars(select(Visit).where(Visit.resident_id == elder.id)).all()
    new_cycle = [v for v in visits if v.window_start.year == 2027 and v.state is VisitState.PLANNED]
    assert new_cycle, "the 2027 plan is built"
    assert all(v.state is not VisitState.PLANNED for v in visits if v.window_end < date(2027, 1, 1))
