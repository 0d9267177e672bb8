"""Cycle roll-over: auto-renewal, terms, change requests and default assignment (signing rules 3–5)."""

from datetime import date

import pytest
from sqlalchemy import func, select, update

from core import clock
from core.auth import Actor, Role
from registry.models import PolicyProfile
from signing import rollover
from signing.models import Agreement, ChangeRequest
from tests import factories as f

BUREAU = Actor(role=Role.BUREAU, subject="client:test", region_code="430522")

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
    new_cycle = [v for v in visits if v.on_time_from.year == 2027 and v.state is VisitState.PLANNED]
    assert new_cycle, "the 2027 plan is built"
    assert all(v.state is not VisitState.PLANNED for v in visits if v.on_time_until < date(2027, 1, 1))


def test_default_assignment_is_only_for_people_who_hold_no_agreement_anywhere_in_the_cycle(app, client, db, centres):
    """[001 四(三)1, 003 §三] A Shaoyang-style region (新邵县 430522) rolls before 邵阳县 (430523): a resident whose
    home village lies in 新邵县 but who signed in 邵阳县 is renewed there and not assigned by default as well."""
    village = centres["xinshao"].windows[0]
    signed_elsewhere = f.resident(openid="signed-elsewhere", home_window_id=village.id)
    sign(client, signed_elsewhere, centres["home"])
    chose_nothing = f.resident(home_window_id=village.id, insured_in="430522")
    clock.set_today(date(2027, 1, 1))
    result = app.test_cli_runner().invoke(args=["signing", "roll-over", "--cycle", "2027"])
    assert result.exit_code == 0, result.output
    [renewed] = in_cycle(db, signed_elsewhere.id, 2027)
    assert (renewed.centre_id, renewed.channel.value, renewed.status.value) == (centres["home"].id, "renewal", "active")
    [assigned] = in_cycle(db, chose_nothing.id, 2027)
    assert (assigned.centre_id, assigned.channel.value) == (centres["xinshao"].id, "default")
    assert "'renewed': 1" in result.output and "'assigned_by_default': 1" in result.output
    assert "'failures': []" in result.output


def test_one_persons_or_one_regions_failure_is_reported_and_stops_nobody_else(app, client, db, centres, alice,
                                                                               monkeypatch):
    from signing import jobs
    from signing.models import AgreementStatus, Channel

    bob = f.resident(openid="bob")
    sign(client, alice, centres["home"])
    bob_2026 = sign(client, bob, centres["home"])
    xinshao = f.resident(openid="xinshao", insured_in="430522")
    xinshao_2026 = sign(client, xinshao, centres["xinshao"])
    counts, renew_region = rollover.counts_for_capitation, rollover._renew_region

    def bob_signs_meanwhile(resident, centre):
        """Bob signs the new cycle with another centre between the roll-over's read and its write."""
        if resident.id == bob.id:
            db.add(Agreement(resident_id=bob.id, centre_id=centres["other"].id, region_code="430523", cycle=2027,
                             start_date=date(2027, 1, 1), end_date=date(2027, 12, 31), term_years=1,
                             term_end_date=date(2027, 12, 31), status=AgreementStatus.ACTIVE, channel=Channel.ON_SITE,
                             counts_for_capitation=True, signed_by="staff:9"))
            db.flush()
        return counts(resident, centre)

    def xinshao_breaks(region_code, cycle):
        if region_code == "430522":
            raise RuntimeError("the region's data is broken")
        return renew_region(region_code, cycle)

    monkeypatch.setattr(rollover, "counts_for_capitation", bob_signs_meanwhile)
    monkeypatch.setattr(rollover, "_renew_region", xinshao_breaks)
    clock.set_today(date(2027, 1, 1))
    result = app.test_cli_runner().invoke(args=["signing", "roll-over", "--cycle", "2027"])
    assert result.exit_code == 1
    assert "FAILED renewal in region 430522 for the whole region: RuntimeError: the region's data is broken" in result.output
    assert f"FAILED renewal in region 430523 for resident {bob.id}: IntegrityError" in result.output
    [renewed] = in_cycle(db, alice.id, 2027)
    assert renewed.channel.value == "renewal"  # the others went on
    assert [a.centre_id for a in in_cycle(db, bob.id, 2027)] == [centres["other"].id]  # nothing written for bob
    assert in_cycle(db, xinshao.id, 2027) == []  # nor for the failed region
    assert db.get(Agreement, bob_2026).status.value == "active"  # kept for the next run
    assert db.get(Agreement, xinshao_2026).status.value == "active"
    with pytest.raises(jobs.RollOverIncomplete, match="430522"):
        jobs.roll_over()

    monkeypatch.undo()
    report = rollover.roll_over(cycle=2027)
    assert report.failures == [] and report.renewed == 1
    assert [a.centre_id for a in in_cycle(db, xinshao.id, 2027)] == [centres["xinshao"].id]
    assert db.get(Agreement, bob_2026).status.value == "expired"


def test_a_recorded_death_ends_every_agreement_and_nobody_dead_is_renewed_assigned_or_counted(client, db, centres):
    """POLICY.md signing rule 10: a death recorded in December also ends next cycle's prepared agreement."""
    from registry.models import Resident
    from settlement.service import signed_counts
    from signing.models import Consent

    village = centres["xinshao"].windows[0]  # 新邵县 assigns residents who chose nothing by default
    person = f.resident(openid="dies", home_window_id=village.id, insured_in="430522")
    current_id = sign(client, person, centres["xinshao"])
    died_in_june = f.resident(openid="died-in-june", home_window_id=village.id, insured_in="430522")
    june_id = sign(client, died_in_june, centres["xinshao"])
    clock.set_today(date(2026, 6, 2))
    assert client.post(f"/api/v1/agreements/{june_id}/termination", json={"reason": "death", "on": "2026-06-01"},
                       headers=f.as_staff(f.staff(centre=centres["xinshao"]))).status_code == 200
    clock.set_today(date(2026, 12, 20))
    rollover.roll_over(cycle=2027)
    assert in_cycle(db, died_in_june.id, 2027) == []  # not assigned by default
    [prepared] = in_cycle(db, person.id, 2027)
    assert prepared.status.value == "pending"
    clock.set_today(date(2026, 12, 22))
    doctor = f.staff(centre=centres["xinshao"])
    url = f"/api/v1/agreements/{current_id}/termination"
    future = client.post(url, json={"reason": "death", "on": "2026-12-23"}, headers=f.as_staff(doctor))
    assert future.status_code == 422 and "on" in future.get_json()["errors"]["json"]
    db.expire_all()
    assert db.get(Resident, person.id).died_on is None  # nothing written
    assert [a.status.value for a in in_cycle(db, person.id, 2026) + in_cycle(db, person.id, 2027)] == ["active", "pending"]

    recorded = client.post(url, json={"reason": "death", "on": "2026-12-21"}, headers=f.as_staff(doctor))
    assert recorded.status_code == 200, recorded.get_json()
    db.expire_all()
    assert db.get(Resident, person.id).died_on == date(2026, 12, 21)
    ended = in_cycle(db, person.id, 2026) + in_cycle(db, person.id, 2027)
    assert {(a.status.value, a.termination_reason.value, a.terminated_on) for a in ended} == {
        ("terminated", "death", date(2026, 12, 21))}
    assert not db.get(Agreement, prepared.id).is_in_force_on(date(2027, 1, 1))
    assert client.post(url, json={"reason": "death"}, headers=f.as_staff(doctor)).status_code == 409
    consents = db.scalar(select(func.count(Consent.id)))
    again = client.post("/api/v1/agreements", json={"centre_id": centres["xinshao"].id, "term_years": 1,
                                                    "consent_version": CONSENT, "resident_ids": [person.id]},
                        headers=f.as_staff(doctor))
    assert again.status_code == 409 and again.get_json()["details"]["reason"] == "dead"
    assert db.scalar(select(func.count(Consent.id))) == consents  # nothing written

    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    assert (report.renewed, report.assigned_by_default, report.activated) == (0, 0, 0)
    assert [a.status.value for a in in_cycle(db, person.id, 2027)] == ["terminated"]
    assert in_cycle(db, died_in_june.id, 2027) == []

    def signed_on(day):
        return signed_counts(BUREAU, region="430522", as_of=day, group_by="centre")["total"]["signed"]

    assert (signed_on(date(2026, 12, 20)), signed_on(date(2026, 12, 21)), signed_on(date(2027, 1, 1))) == (1, 0, 0)


def test_default_assignment_is_only_for_people_insured_in_the_region(db, centres):
    """[001 四(三)1] 参保居民未选择…: the uninsured and those insured elsewhere are not assigned by default."""
    village = centres["xinshao"].windows[0]
    uninsured = f.resident(home_window_id=village.id, insured_in=None)
    insured_elsewhere = f.resident(home_window_id=village.id, insured_in="430523")
    insured_here = f.resident(home_window_id=village.id, insured_in="430522")
    clock.set_today(date(2027, 1, 1))
    report = rollover.roll_over(cycle=2027)
    assert report.assigned_by_default == 1 and len(in_cycle(db, insured_here.id, 2027)) == 1
    assert in_cycle(db, uninsured.id, 2027) == [] and in_cycle(db, insured_elsewhere.id, 2027) == []
