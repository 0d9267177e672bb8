"""One definition of "agreement in force on a day" (signing.models.in_force_on), used by every consumer:
plans, vaccination reminders, lecture notices, package changes and head counts. Each state × each consumer."""

from datetime import date

import pytest
from sqlalchemy import select

from care import plans
from care.models import Visit
from core import clock
from core import db as core_db
from notifications import jobs
from notifications.models import Kind, Lecture, OutboxMessage
from settlement.service import tally
from signing.models import Agreement, AgreementStatus, in_force_on
from tests import factories as f
from tests.factories_notifications import signed

DAY = date(2026, 3, 16)  # the test clock's today

# (status, terminated_on) → in force on DAY?
STATES = [
    (AgreementStatus.PENDING, None, True),  # begun but not yet activated by the roll-over job: holds its place
    (AgreementStatus.ACTIVE, None, True),
    (AgreementStatus.CHANGE_PENDING, None, True),  # a change request takes effect next cycle only
    (AgreementStatus.TERMINATED, date(2026, 3, 17), True),  # ends tomorrow (a date-stamped end after DAY)
    (AgreementStatus.TERMINATED, DAY, False),
    (AgreementStatus.EXPIRED, None, True),  # expired by a later roll-over, but ran on DAY
]
IDS = ["pending", "active", "change_pending", "terminated_later", "terminated_today", "expired"]


def _agreement(status, terminated_on, *, born=date(1980, 5, 1)):
    f.regions()
    centre = f.centre()
    person = f.resident(born=born, openid=f"o-{status.value}-{born.isoformat()}")
    agreement = signed(person, centre)
    agreement.status, agreement.terminated_on = status, terminated_on
    core_db.session.commit()
    return agreement, person, centre


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_in_force_on_a_day_is_one_rule_in_sql_and_on_a_loaded_row(db, status, terminated_on, expected):
    agreement, _, _ = _agreement(status, terminated_on)
    in_sql = db.scalar(select(Agreement.id).where(Agreement.id == agreement.id, in_force_on(DAY))) is not None
    assert (in_sql, agreement.is_in_force_on(DAY)) == (expected, expected)
    assert not agreement.is_in_force_on(date(2025, 12, 31)) and not agreement.is_in_force_on(date(2027, 1, 1))


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_vaccination_reminders_follow_the_agreement_in_force(db, status, terminated_on, expected):
    _, child, _ = _agreement(status, terminated_on, born=date(2025, 7, 16))  # MMR-1 and JE-L-1 due today
    jobs.reminders()
    reminded = db.scalars(select(OutboxMessage.resident_id).where(OutboxMessage.kind == Kind.VACCINATION_DUE)).all()
    assert (child.id in reminded) is expected


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_lecture_notices_follow_the_agreement_in_force(db, status, terminated_on, expected):
    _, person, centre = _agreement(status, terminated_on)
    lecture = Lecture(centre_id=centre.id, title="高血压的自我管理", place="卫生院", starts_at=clock.now().replace(day=18),
                      published_by="test")
    db.add(lecture)
    db.commit()
    jobs.lectures()
    told = db.scalars(select(OutboxMessage.resident_id).where(OutboxMessage.kind == Kind.LECTURE)).all()
    assert (person.id in told) is expected


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_plans_follow_the_agreement_in_force(db, status, terminated_on, expected):
    _, person, _ = _agreement(status, terminated_on, born=date(1950, 5, 1))  # 65+: a yearly check is planned
    plans.rebuild_plans([person.id])
    db.commit()
    open_visits = db.scalars(select(Visit).where(Visit.resident_id == person.id, Visit.state == "planned")).all()
    assert bool(open_visits) is expected


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_head_counts_follow_the_agreement_in_force(db, status, terminated_on, expected):
    agreement, _, _ = _agreement(status, terminated_on)
    [(_, figures)] = tally(DAY, [agreement.region_code])
    assert figures["signed"] == (1 if expected else 0)


@pytest.mark.parametrize(("status", "terminated_on", "expected"), STATES, ids=IDS)
def test_package_changes_follow_the_agreement_in_force(db, client, status, terminated_on, expected):
    agreement, person, _ = _agreement(status, terminated_on)
    response = client.get(f"/api/v1/agreements/{agreement.id}/packages", headers=f.as_resident(person))
    assert response.status_code == 200
    dropped = client.delete(f"/api/v1/agreements/{agreement.id}/packages/elderly-care", headers=f.as_resident(person))
    # in force: the package is simply not held (404); not in force: no package changes at all (409)
    assert dropped.status_code == (404 if expected else 409), dropped.get_json()


def test_a_change_request_keeps_the_childs_vaccination_reminders_and_lecture_notices(db, client):
    """The bug that made one predicate necessary: a change request (allowed in the change period) used to
    stop reminders and notices, because those jobs looked at `active` agreements only."""
    clock.set_today(date(2026, 10, 16))
    f.regions()
    here, there = f.centre(), f.centre()
    parent = f.resident(openid="o-parent")
    child = f.resident(born=date(2026, 2, 16), household=parent.household)  # 8 months on 16 Oct: MMR-1, JE-L-1
    agreement = signed(child, here)
    response = client.post(f"/api/v1/agreements/{agreement.id}/change-requests", json={"centre_id": there.id},
                           headers=f.as_resident(parent))
    assert response.status_code == 201, response.get_json()
    db.refresh(agreement)
    assert agreement.status is AgreementStatus.CHANGE_PENDING
    assert jobs.reminders()["vaccinations"] == 2
    db.add(Lecture(centre_id=here.id, title="儿童营养", place="卫生院", starts_at=clock.now().replace(day=18),
                   published_by="test"))
    db.commit()
    assert jobs.lectures() == 1
