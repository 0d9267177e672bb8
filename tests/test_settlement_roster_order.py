"""Rosters in commit order (issue 12, "Rosters"): a transaction that commits after a faster one, with an earlier
updated_at, still reaches an incremental-pull client whose position is already past the faster one's row."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, insert, select

from core import clock
from core import db as core_db
from signing.models import Agreement, AgreementStatus, Channel
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau


def _pull(client, **params) -> list[dict]:
    """Page to the end (as a bureau client does), returning every item in the order served."""
    items, cursor = [], None
    while True:
        response = client.get("/api/v1/rosters", headers=as_bureau(),
                              query_string={"limit": 2, **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items


def test_on_postgresql_a_slow_transaction_committing_after_a_faster_one_reaches_a_client_that_pulled_in_between(
        app, committed_db):
    if committed_db.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: a second transaction cannot commit while the first is writing")
    f.regions()
    centre = f.centre(region="430523")
    slow_person, fast_person = f.resident(), f.resident()
    client = app.test_client()
    engine = create_engine(committed_db)
    year = clock.today().year
    try:
        with engine.connect() as slow:
            slow.begin()
            slow.execute(insert(Agreement).values(
                resident_id=slow_person.id, centre_id=centre.id, region_code="430523", cycle=year,
                start_date=clock.today(), end_date=date(year, 12, 31), term_years=1, term_end_date=date(year, 12, 31),
                status=AgreementStatus.ACTIVE, channel=Channel.ON_SITE, counts_for_capitation=True, signed_by="staff:slow",
                created_at=clock.now(), updated_at=clock.now() - timedelta(minutes=5)))
            fast = agreement(fast_person, centre, start=clock.today(), end=date(year, 12, 31))  # commits first
            between = _pull(client)
            assert [item["resident_id"] for item in between] == [fast_person.id]  # the slow one is not committed yet
            position = between[-1]["change_seq"]
            slow.commit()
        later = _pull(client, changed_after=position)
        assert [item["resident_id"] for item in later] == [slow_person.id]
        slow_row = core_db.session.scalar(select(Agreement).where(Agreement.resident_id == slow_person.id))
        # What an updated_since client would have lost: the slow row is stamped before the fast one it came after.
        assert slow_row.updated_at < fast.updated_at and slow_row.change_seq > position
    finally:
        engine.dispose()


def test_on_postgresql_the_number_a_row_keeps_is_taken_at_commit_not_when_it_was_written(app, committed_db):
    """The slow transaction wrote first (the smaller number while it ran) and committed last: it ends up last."""
    if committed_db.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time")
    f.regions()
    centre = f.centre(region="430523")
    first, second = f.resident(), f.resident()
    early = agreement(first, centre)
    engine = create_engine(committed_db)
    try:
        with engine.connect() as slow:
            slow.begin()
            slow.execute(Agreement.__table__.update().where(Agreement.id == early.id).values(signed_by="staff:slow"))
            late = agreement(second, centre)
            slow.commit()
        seqs = dict(core_db.session.execute(select(Agreement.id, Agreement.change_seq)
                                            .execution_options(populate_existing=True)).all())
        assert seqs[early.id] > seqs[late.id]
    finally:
        engine.dispose()


def test_every_write_of_an_agreement_moves_it_behind_the_clients_position(client, db):
    f.regions()
    centre = f.centre(region="430523")
    doctor = f.staff(centre=centre)
    people = [f.resident() for _ in range(3)]
    signed = [agreement(person, centre) for person in people]
    position = _pull(client)[-1]["change_seq"]
    assert _pull(client, changed_after=position) == []
    ended = client.post(f"/api/v1/agreements/{signed[1].id}/termination", json={"reason": "moved_away"},
                        headers=f.as_staff(doctor))
    assert ended.status_code == 200, ended.get_json()
    changed = client.patch(f"/api/v1/residents/{people[2].id}", json={"insurance_scheme": "employee"},
                           headers=f.as_staff(doctor))
    assert changed.status_code == 200, changed.get_json()
    later = _pull(client, changed_after=position)
    assert [(item["id"], item["tombstone"]) for item in later] == [(signed[1].id, True), (signed[2].id, False)]
    assert later[1]["insurance_scheme"] == "employee"


def test_a_negative_change_position_is_422(client, db):
    response = client.get("/api/v1/rosters?changed_after=-1", headers=as_bureau())
    assert response.status_code == 422
    assert "changed_after" in response.get_json()["errors"]["query"]
