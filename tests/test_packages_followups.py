"""Follow-ups through the API: health facts build plans, the worklist, logging and correcting visits,
clinical feedback, completion figures, residents' own visits."""

from datetime import date, timedelta

from sqlalchemy import func, select

from care import plans
from care.models import Visit, VisitRecord, VisitState
from core import clock
from registry.models import Sex
from registry.populations import key_populations
from tests import factories as f
from tests.packages_support import signed, site

VITALS_OK = {"systolic": 130, "diastolic": 80}


def record_condition(client, place, person, kind="hypertension"):
    return client.post(f"/api/v1/residents/{person.id}/conditions", json={"kind": kind, "diagnosed_on": "2024-05-01"},
                       headers=f.as_staff(place.doctor))


def visit(db, person, code, programme=None):
    query = select(Visit).where(Visit.resident_id == person.id, Visit.code == code)
    if programme:
        query = query.where(Visit.programme == programme)
    found = db.scalar(query)
    if found is not None:
        db.refresh(found)
    return found


def log(client, place, target, served_on="2026-03-16", **vitals):
    body = {"served_on": served_on, "mode": "clinic"} | (vitals or VITALS_OK)
    return client.post(f"/api/v1/visits/{target.id}/records", json=body, headers=f.as_staff(place.doctor))


def hypertensive(client, place, born=date(1946, 1, 10)):
    person = signed(client, place, born=born, openid=f"wx-{born}-{id(place)}")
    assert record_condition(client, place, person).status_code == 201
    return person


def test_recording_hypertension_plans_the_quarterly_visits_of_the_cycle(client, db):
    place = site()
    person = hypertensive(client, place)
    quarters = db.execute(select(Visit.code, Visit.due_date).where(Visit.resident_id == person.id,
                                                                   Visit.programme == "hypertension")).all()
    assert sorted(quarters) == [("2026-q1", date(2026, 3, 31)), ("2026-q2", date(2026, 6, 30)),
                                ("2026-q3", date(2026, 9, 30)), ("2026-q4", date(2026, 12, 31))]


def test_a_condition_recorded_twice_is_409_and_nothing_more_is_written(client, db):
    place = site()
    person = hypertensive(client, place)
    before = db.scalar(select(func.count()).select_from(Visit))
    assert record_condition(client, place, person).status_code == 409
    assert db.scalar(select(func.count()).select_from(Visit)) == before


def test_a_diagnosis_in_the_future_is_422(client, db):
    place = site()
    person = signed(client, place, born=date(1960, 1, 1))
    response = client.post(f"/api/v1/residents/{person.id}/conditions", json={"kind": "copd", "diagnosed_on": "2026-03-17"},
                           headers=f.as_staff(place.doctor))
    assert response.status_code == 422
    assert "diagnosed_on" in response.get_json()["errors"]["json"]


def test_a_doctor_records_facts_only_for_residents_of_their_centre(client, db):
    place, other = site(), site()
    person = signed(client, place, born=date(1960, 1, 1))
    assert record_condition(client, other, person).status_code == 403


def test_pregnancy_registered_at_week_22_through_the_api_gets_the_remaining_visits_and_delivery_ends_them(client, db):
    place = site()
    mother = signed(client, place, born=date(1995, 1, 1))
    registered = client.post(f"/api/v1/residents/{mother.id}/pregnancies", json={"last_menstrual_period": "2025-10-13"},
                             headers=f.as_staff(place.doctor))
    assert registered.status_code == 201, registered.get_json()
    assert registered.get_json()["expected_delivery"] == "2026-07-20"
    assert sorted(db.scalars(select(Visit.code).where(Visit.resident_id == mother.id))) == [
        f"p{registered.get_json()['id']}-{c}" for c in ("21-24w", "28-36w", "37-40w")]
    assert key_populations(mother, clock.today()) == {"pregnant"}
    clock.set_today(date(2026, 6, 30))
    delivered = client.post(f"/api/v1/pregnancies/{registered.get_json()['id']}/delivery",
                            json={"delivered_on": "2026-06-30"}, headers=f.as_staff(place.doctor))
    assert delivered.status_code == 200, delivered.get_json()
    states = dict(db.execute(select(Visit.code, Visit.state).where(Visit.resident_id == mother.id)).all())
    prefix = f"p{registered.get_json()['id']}-"
    assert states == {prefix + "21-24w": VisitState.MISSED, prefix + "28-36w": VisitState.MISSED,
                      prefix + "37-40w": VisitState.CANCELLED, prefix + "home-visit": VisitState.PLANNED,
                      prefix + "42-day": VisitState.PLANNED}
    assert client.post(f"/api/v1/pregnancies/{registered.get_json()['id']}/delivery", json={"delivered_on": "2026-06-30"},
                       headers=f.as_staff(place.doctor)).status_code == 409


def test_a_pregnancy_needs_lmp_or_expected_date_and_a_woman(client, db):
    place = site()
    man = signed(client, place, born=date(1990, 1, 1), sex=Sex.MALE)
    woman = signed(client, place, born=date(1990, 1, 1))
    headers = f.as_staff(place.doctor)
    assert client.post(f"/api/v1/residents/{man.id}/pregnancies", json={"expected_delivery": "2026-07-20"},
                       headers=headers).status_code == 422
    assert client.post(f"/api/v1/residents/{woman.id}/pregnancies", json={}, headers=headers).status_code == 422
    from_edd = client.post(f"/api/v1/residents/{woman.id}/pregnancies", json={"expected_delivery": "2026-07-20"},
                           headers=headers)
    assert from_edd.get_json()["last_menstrual_period"] == "2025-10-13"
    assert client.post(f"/api/v1/residents/{woman.id}/pregnancies", json={"expected_delivery": "2026-07-20"},
                       headers=headers).status_code == 409


def test_recorded_tags_join_the_key_populations(client, db):
    place = site()
    person = signed(client, place, born=date(1980, 1, 1))
    assert client.post(f"/api/v1/residents/{person.id}/tags", json={"tag": "poverty_alleviated"},
                       headers=f.as_staff(place.doctor)).status_code == 201
    health = client.get(f"/api/v1/residents/{person.id}/health", headers=f.as_staff(place.doctor)).get_json()
    assert health["key_populations"] == ["poverty_alleviated"]


def test_worklist_lists_due_visits_of_the_team_most_urgent_first(client, db):
    place = site()
    elder = hypertensive(client, place)
    diabetic = signed(client, place, born=date(1976, 6, 1))
    record_condition(client, place, diabetic, "diabetes")
    page = client.get("/api/v1/worklist?status=due", headers=f.as_staff(place.doctor)).get_json()
    rows = [(v["resident_id"], v["code"], v["status"]) for v in page["items"]]
    assert rows[:2] == sorted([(elder.id, "2026-q1", "due"), (diabetic.id, "2026-q1", "due")], key=lambda r: r[0])
    assert {r[1] for r in rows[2:]} == {"2026-health-check", "2026-tcm", "2026-home-visit"}
    assert all("resident_id_number" not in v for v in page["items"])  # a child's visit dates are its birth date
    other = site()
    assert client.get("/api/v1/worklist", headers=f.as_staff(other.doctor)).get_json()["items"] == []


def test_worklist_shows_overdue_by_whole_days_and_pages_with_a_cursor(client, db):
    place = site()
    hypertensive(client, place)
    clock.set_today(date(2026, 4, 1))
    overdue = client.get("/api/v1/worklist?status=overdue", headers=f.as_staff(place.doctor)).get_json()
    assert [(v["code"], v["days_overdue"]) for v in overdue["items"]] == [("2026-q1", 1)]
    seen, url = [], "/api/v1/worklist?limit=2"
    while url:
        page = client.get(url, headers=f.as_staff(place.doctor)).get_json()
        seen += [v["code"] for v in page["items"]]
        url = page["next_cursor"] and f"/api/v1/worklist?limit=2&cursor={page['next_cursor']}"
    assert seen[:2] == ["2026-q1", "2026-q2"]
    assert sorted(seen[2:]) == ["2026-health-check", "2026-home-visit", "2026-tcm"]
    forged = client.get("/api/v1/worklist?cursor=WyJub3QtYS1kYXRlIiwgMV0=", headers=f.as_staff(place.doctor))
    assert forged.status_code == 422
    assert "cursor" in forged.get_json()["errors"]["query"]


def test_worklist_filters_by_programme_and_due_dates(client, db):
    place = site()
    hypertensive(client, place)
    headers = f.as_staff(place.doctor)
    assert {v["programme"] for v in client.get("/api/v1/worklist?programme=hypertension", headers=headers).get_json()["items"]} == {"hypertension"}
    assert [v["code"] for v in client.get("/api/v1/worklist?from=2026-03-01&to=2026-04-30", headers=headers).get_json()["items"]] == ["2026-q1"]
    response = client.get("/api/v1/worklist?status=late", headers=headers)
    assert response.status_code == 422
    assert "status" in response.get_json()["errors"]["query"]


def test_logging_a_visit_in_its_window_makes_it_done_on_time(client, db):
    place = site()
    person = hypertensive(client, place)
    logged = log(client, place, visit(db, person, "2026-q1"))
    assert logged.status_code == 201, logged.get_json()
    assert logged.get_json()["timeliness"] == "on_time"
    assert logged.get_json()["reading"] == "controlled"
    q1 = visit(db, person, "2026-q1")
    assert (q1.state, q1.served_on) == (VisitState.DONE, date(2026, 3, 16))


def test_a_visit_logged_after_its_window_is_late(client, db):
    place = site()
    person = hypertensive(client, place)
    clock.set_today(date(2026, 4, 3))
    logged = log(client, place, visit(db, person, "2026-q1"), served_on="2026-04-02")
    assert logged.get_json()["timeliness"] == "late"


def test_out_of_range_vitals_are_422_naming_the_field_and_nothing_is_written(client, db):
    place = site()
    person = hypertensive(client, place)
    response = log(client, place, visit(db, person, "2026-q1"), systolic=301, diastolic=80)
    assert response.status_code == 422
    assert "systolic" in response.get_json()["errors"]["json"]
    assert log(client, place, visit(db, person, "2026-q1"), systolic=120, diastolic=130).status_code == 422
    assert log(client, place, visit(db, person, "2026-q1"), served_on="2026-03-17").status_code == 422
    assert db.scalar(select(func.count()).select_from(VisitRecord)) == 0
    assert visit(db, person, "2026-q1").state is VisitState.PLANNED


def test_logging_a_visit_twice_is_409(client, db):
    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"))
    assert log(client, place, visit(db, person, "2026-q1")).status_code == 409
    assert db.scalar(select(func.count()).select_from(VisitRecord)) == 1


def test_another_centres_doctor_cannot_log_a_visit(client, db):
    place, other = site(), site()
    person = hypertensive(client, place)
    assert log(client, other, visit(db, person, "2026-q1")).status_code == 403
    assert db.scalar(select(func.count()).select_from(VisitRecord)) == 0


def window(found):
    return found.due_date, found.on_time_from, found.on_time_until


Q2 = (date(2026, 6, 30), date(2026, 4, 1), date(2026, 6, 30))
RECHECK_BY_MARCH_30 = (date(2026, 3, 30), date(2026, 3, 17), date(2026, 3, 30))


def test_danger_sign_flags_referral_and_plans_an_extra_re_visit_within_two_weeks_beside_the_quarters_visit(client, db):
    place = site()
    person = hypertensive(client, place)
    logged = log(client, place, visit(db, person, "2026-q1"), systolic=185, diastolic=100)
    assert logged.get_json()["reading"] == "danger" and logged.get_json()["referral"] is True
    recheck = visit(db, person, "2026-q1-recheck")
    assert (window(recheck), recheck.state) == (RECHECK_BY_MARCH_30, VisitState.PLANNED)
    assert window(visit(db, person, "2026-q2")) == Q2  # the quarter's routine visit stays
    assert visit(db, person, "2026-q1").referral is True


def test_low_glucose_in_a_diabetic_is_a_danger_sign_too(client, db):
    place = site()
    person = signed(client, place, born=date(1976, 6, 1))
    record_condition(client, place, person, "diabetes")
    log(client, place, visit(db, person, "2026-q1"), glucose="3.5", glucose_fasting=True)
    assert visit(db, person, "2026-q1-recheck").due_date == date(2026, 3, 30)
    assert visit(db, person, "2026-q2").due_date == date(2026, 6, 30)


def test_correcting_a_record_makes_clinical_feedback_follow_its_current_state(client, db):
    place = site()
    person = hypertensive(client, place)
    headers = f.as_staff(place.doctor)

    def correct(record, **vitals):
        response = client.put(f"/api/v1/visit-records/{record['id']}",
                              json={"served_on": "2026-03-16", "mode": "clinic"} | vitals, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    first = log(client, place, visit(db, person, "2026-q1")).get_json()
    assert visit(db, person, "2026-q1-recheck") is None
    danger = correct(first, systolic=185, diastolic=100)  # the reading was mistyped at first
    assert (danger["reading"], danger["referral"], visit(db, person, "2026-q1").referral) == ("danger", True, True)
    assert (window(visit(db, person, "2026-q1-recheck")), visit(db, person, "2026-q1-recheck").state) == (
        RECHECK_BY_MARCH_30, VisitState.PLANNED)
    assert window(visit(db, person, "2026-q2")) == Q2

    records, visits = (db.scalar(select(func.count()).select_from(model)) for model in (VisitRecord, Visit))
    stale = client.put(f"/api/v1/visit-records/{first['id']}", json={"served_on": "2026-03-16", "mode": "clinic",
                                                                     **VITALS_OK}, headers=headers)
    assert stale.status_code == 409  # only the latest revision is corrected: nothing written, nothing moved
    assert (db.scalar(select(func.count()).select_from(VisitRecord)), db.scalar(select(func.count()).select_from(Visit))) \
        == (records, visits)
    assert visit(db, person, "2026-q1-recheck").state is VisitState.PLANNED

    uncontrolled = correct(danger, systolic=150, diastolic=85)
    assert visit(db, person, "2026-q1-recheck").state is VisitState.CANCELLED
    assert window(visit(db, person, "2026-q2")) == (date(2026, 4, 16), date(2026, 3, 17), date(2026, 4, 16))
    controlled = correct(uncontrolled, **VITALS_OK)
    assert (controlled["reading"], controlled["referral"], visit(db, person, "2026-q1").referral) == (
        "controlled", False, False)
    assert window(visit(db, person, "2026-q2")) == Q2 and visit(db, person, "2026-q2").rescheduled is False
    assert visit(db, person, "2026-q1-recheck").state is VisitState.CANCELLED


def test_uncontrolled_reading_shortens_the_interval_to_a_month(client, db):
    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"), systolic=150, diastolic=85)
    q2 = visit(db, person, "2026-q2")
    assert (q2.due_date, q2.on_time_from, q2.on_time_until) == (date(2026, 4, 16), date(2026, 3, 17), date(2026, 4, 16))


def test_controlled_reading_keeps_the_quarterly_rhythm(client, db):
    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"))
    q2 = visit(db, person, "2026-q2")
    assert (q2.due_date, q2.on_time_from, q2.on_time_until) == (date(2026, 6, 30), date(2026, 4, 1), date(2026, 6, 30))


def test_danger_sign_at_the_last_quarter_plans_a_re_visit(client, db):
    place = site()
    person = hypertensive(client, place)
    clock.set_today(date(2026, 12, 20))
    plans.rebuild_plans([person.id])
    log(client, place, visit(db, person, "2026-q4"), served_on="2026-12-20", systolic=190, diastolic=100)
    recheck = visit(db, person, "2026-q4-recheck")
    assert (recheck.due_date, recheck.state) == (date(2027, 1, 3), VisitState.PLANNED)


def test_rebuilding_a_plan_is_idempotent_and_keeps_logged_and_moved_visits(client, db):
    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"), systolic=185, diastolic=100)
    before = db.execute(select(Visit.code, Visit.state, Visit.due_date).where(Visit.resident_id == person.id)).all()
    plans.rebuild_plans([person.id])
    plans.rebuild_plans([person.id])
    after = db.execute(select(Visit.code, Visit.state, Visit.due_date).where(Visit.resident_id == person.id)).all()
    assert sorted(after) == sorted(before)


def test_timeliness_stays_as_logged_after_the_window_is_later_edited(client, db):
    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"))
    q1 = visit(db, person, "2026-q1")
    q1.on_time_from, q1.on_time_until = date(2026, 1, 1), date(2026, 3, 10)
    db.commit()
    figures = client.get("/api/v1/followups/completion?from=2026-01-01&to=2026-03-31",
                         headers=f.as_staff(place.admin)).get_json()["items"]
    assert [(r["programme"], r["done_on_time"], r["done_late"]) for r in figures] == [("hypertension", 1, 0)]


def test_a_record_is_corrected_by_its_author_and_the_history_is_kept(client, db):
    place = site()
    person = hypertensive(client, place)
    q1 = visit(db, person, "2026-q1")
    first = log(client, place, q1).get_json()
    body = {"served_on": "2026-03-15", "mode": "home", "systolic": 132, "diastolic": 82, "notes": "typo fixed"}
    corrected = client.put(f"/api/v1/visit-records/{first['id']}", json=body, headers=f.as_staff(place.doctor))
    assert corrected.status_code == 200, corrected.get_json()
    assert corrected.get_json()["revision"] == 2
    history = client.get(f"/api/v1/visits/{q1.id}/records", headers=f.as_staff(place.doctor)).get_json()["items"]
    assert [(r["revision"], r["current"], r["mode"]) for r in history] == [(1, False, "clinic"), (2, True, "home")]
    assert visit(db, person, "2026-q1").served_on == date(2026, 3, 15)
    stale = client.put(f"/api/v1/visit-records/{first['id']}", json=body, headers=f.as_staff(place.doctor))
    assert stale.status_code == 409


def test_only_the_author_corrects_a_record(client, db):
    place = site()
    colleague = f.staff(centre=place.centre)
    person = hypertensive(client, place)
    first = log(client, place, visit(db, person, "2026-q1")).get_json()
    response = client.put(f"/api/v1/visit-records/{first['id']}", json={"served_on": "2026-03-16", "mode": "phone"},
                          headers=f.as_staff(colleague))
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(VisitRecord)) == 1


def test_completion_counts_done_on_time_late_and_missed_per_team_and_programme(client, db):
    place = site()
    person = hypertensive(client, place)
    other = hypertensive(client, place, born=date(1950, 2, 2))
    log(client, place, visit(db, person, "2026-q1"))
    clock.set_today(date(2026, 7, 5))
    log(client, place, visit(db, person, "2026-q2"), served_on="2026-07-02")
    figures = client.get("/api/v1/followups/completion?from=2026-01-01&to=2026-06-30&programme=hypertension",
                         headers=f.as_staff(place.doctor)).get_json()["items"]
    assert figures == [{"centre_id": place.centre.id, "team_id": place.team_id, "programme": "hypertension",
                        "done_on_time": 1, "done_late": 1, "missed": 2, "open": 0}]
    assert other.id != person.id


def test_a_resident_sees_the_visits_of_their_household(client, db):
    place = site()
    person = hypertensive(client, place)
    mine = client.get("/api/v1/me/visits", headers=f.as_resident(person)).get_json()["items"]
    assert {v["code"] for v in mine} >= {"2026-q1", "2026-q2", "2026-home-visit"}
    assert {v["resident_id"] for v in mine} == {person.id}


def test_plans_are_built_when_signing_a_child_registered_at_ten_months(client, db):
    place = site()
    child = signed(client, place, born=date(2025, 5, 16))
    assert sorted(db.scalars(select(Visit.code).where(Visit.resident_id == child.id))) == [
        "12m", "18m", "blood-18m", "hearing-12m", "tcm-12m", "tcm-18m"]
    assert visit(db, child, "12m").on_time_from - visit(db, child, "12m").due_date == timedelta(days=-14)


def test_when_the_cycle_rolls_the_plan_moves_to_the_new_cycle_and_undone_visits_are_missed(app, client, db):
    from signing.rollover import roll_over

    place = site()
    person = hypertensive(client, place)
    log(client, place, visit(db, person, "2026-q1"))
    clock.set_today(date(2027, 1, 2))
    roll_over(cycle=2027)
    result = app.test_cli_runner().invoke(args=["care", "rebuild-plans"])
    assert result.exit_code == 0, result.output
    states = dict(db.execute(select(Visit.code, Visit.state).where(Visit.resident_id == person.id,
                                                                   Visit.programme == "hypertension")).all())
    assert states["2026-q1"] is VisitState.DONE
    assert {states[f"2026-q{q}"] for q in (2, 3, 4)} == {VisitState.MISSED}
    assert {states[f"2027-q{q}"] for q in (1, 2, 3, 4)} == {VisitState.PLANNED}


def test_a_phone_contact_is_recorded_but_completes_no_face_to_face_or_home_visit(client, db):
    """Annex 1 of 000: face-to-face (面对面) chronic follow-ups, a home (上门) visit for people 80+."""
    place = site()
    person = hypertensive(client, place)  # 80 in 2026: the yearly home visit too
    headers = f.as_staff(place.doctor)
    q1, home_visit = visit(db, person, "2026-q1"), visit(db, person, "2026-home-visit")
    assert (q1.modes, home_visit.modes) == (["clinic", "home"], ["home"])

    phoned = client.post(f"/api/v1/visits/{q1.id}/records", json={"served_on": "2026-03-16", "mode": "phone"} | VITALS_OK,
                         headers=headers)
    assert phoned.status_code == 201 and phoned.get_json()["completes"] is False
    q1 = visit(db, person, "2026-q1")
    assert (q1.state, q1.served_on) == (VisitState.PLANNED, None)  # still to be made
    met = log(client, place, q1)  # then seen at the clinic
    assert (met.status_code, met.get_json()["completes"], met.get_json()["revision"]) == (201, True, 2)
    assert visit(db, person, "2026-q1").state is VisitState.DONE
    history = client.get(f"/api/v1/visits/{q1.id}/records", headers=headers).get_json()["items"]
    assert [(r["revision"], r["mode"], r["current"], r["completes"]) for r in history] == [
        (1, "phone", False, False), (2, "clinic", True, True)]

    records = db.scalar(select(func.count()).select_from(VisitRecord))
    again = log(client, place, q1)
    assert again.status_code == 409 and db.scalar(select(func.count()).select_from(VisitRecord)) == records

    at_clinic = client.post(f"/api/v1/visits/{home_visit.id}/records", json={"served_on": "2026-03-16", "mode": "clinic"},
                            headers=headers)
    assert at_clinic.status_code == 201 and at_clinic.get_json()["completes"] is False
    assert visit(db, person, "2026-home-visit").state is VisitState.PLANNED
    at_home = client.put(f"/api/v1/visit-records/{at_clinic.get_json()['id']}", json={"served_on": "2026-03-16",
                         "mode": "home"}, headers=headers)  # it was at home after all
    assert at_home.status_code == 200 and at_home.get_json()["completes"] is True
    assert visit(db, person, "2026-home-visit").state is VisitState.DONE
    by_phone = client.put(f"/api/v1/visit-records/{at_home.get_json()['id']}", json={"served_on": "2026-03-16",
                          "mode": "phone"}, headers=headers)
    assert by_phone.status_code == 200
    assert (visit(db, person, "2026-home-visit").state, visit(db, person, "2026-home-visit").served_on) == (
        VisitState.PLANNED, None)
    figures = client.get("/api/v1/followups/completion?from=2026-01-01&to=2026-12-31",
                         headers=headers).get_json()["items"]
    assert {r["programme"]: r["done_on_time"] for r in figures} == {"elderly": 0, "elderly-80": 0, "hypertension": 1}
