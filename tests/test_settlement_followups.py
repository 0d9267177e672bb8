"""Settlement follow-ups: one definition of the key populations in SQL and Python, rosters with each
agreement's real packages, actual costs kept with history, snapshots frozen in the database itself."""

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.exc import DBAPIError

from core import clock
from core import db as core_db
from core.models import AuditEvent
from registry.models import Condition, ConditionKind, PopulationTag, Pregnancy, RecordedTag, Resident
from registry.populations import KEY_POPULATIONS, facts_of, key_population_sql, tags_from
from settlement import rosters
from settlement import service as settlement
from settlement.models import ActualCost, ActualCostFiling, Snapshot, SnapshotLine
from signing.models import AgreementPackage
from tests import factories as f
from tests.settlement_helpers import agreement, as_bureau

TODAY = date(2026, 3, 16)


@pytest.fixture
def regions(db):
    f.regions()


def _condition(person, kind):
    core_db.session.add(Condition(resident_id=person.id, kind=kind, diagnosed_on=date(2024, 1, 1),
                                  recorded_on=date(2024, 1, 2), recorded_by="staff:1"))


def _pregnancy(person, last_period, delivered_on=None):
    core_db.session.add(Pregnancy(resident_id=person.id, last_menstrual_period=last_period,
                                  expected_delivery=last_period + timedelta(days=280), delivered_on=delivered_on,
                                  registered_on=last_period + timedelta(days=40), recorded_by="staff:1"))


def _tag(person, tag):
    core_db.session.add(PopulationTag(resident_id=person.id, tag=tag, recorded_on=date(2025, 6, 1), recorded_by="staff:1"))


def _mixed_population() -> dict[str, Resident]:
    """One resident per key population, and near misses on each side of every boundary."""
    people = {
        "elderly_65": f.resident(born=date(1961, 3, 16)), "not_yet_65": f.resident(born=date(1961, 3, 17)),
        "elderly_80": f.resident(born=date(1946, 3, 16)), "child_0_6": f.resident(born=date(2019, 3, 17)),
        "just_7": f.resident(born=date(2019, 3, 16)), "adult": f.resident(),
        "pregnant": f.resident(), "overdue_pregnancy": f.resident(), "pregnant_in_the_future": f.resident(),
        "postpartum": f.resident(), "delivered_long_ago": f.resident(), "tumour": f.resident(), "stroke": f.resident(),
        **{kind.value: f.resident() for kind in (ConditionKind.HYPERTENSION, ConditionKind.DIABETES, ConditionKind.COPD,
                                                 ConditionKind.TB, ConditionKind.SEVERE_MENTAL)},
        **{tag.value: f.resident() for tag in RecordedTag},
    }
    _pregnancy(people["pregnant"], TODAY - timedelta(days=100))
    _pregnancy(people["overdue_pregnancy"], TODAY - timedelta(days=295))  # due 15 days ago, nobody closed it
    _pregnancy(people["pregnant_in_the_future"], TODAY + timedelta(days=1))
    _pregnancy(people["postpartum"], TODAY - timedelta(days=320), delivered_on=TODAY - timedelta(days=42))
    _pregnancy(people["delivered_long_ago"], TODAY - timedelta(days=330), delivered_on=TODAY - timedelta(days=43))
    for kind in ConditionKind:
        _condition(people[kind.value], kind)
    for tag in RecordedTag:
        _tag(people[tag.value], tag)
    core_db.session.commit()
    return people


def test_key_population_sql_and_python_definitions_agree_resident_by_resident(db, regions):
    people = _mixed_population()
    ids = [person.id for person in people.values()]
    in_sql = {name: set(db.scalars(select(Resident.id).where(Resident.id.in_(ids), condition)))
              for name, condition in key_population_sql(TODAY).items()}
    in_python = {rid: tags_from(facts, TODAY) & set(KEY_POPULATIONS) for rid, facts in facts_of(people.values()).items()}
    assert set(in_sql) == set(KEY_POPULATIONS)
    for label, person in people.items():
        assert {name for name, members in in_sql.items() if person.id in members} == in_python[person.id], label
    # Not vacuous: each population has exactly its own resident (65+ also holds the 80-year-old).
    assert {name: len(members) for name, members in in_sql.items()} == {**dict.fromkeys(KEY_POPULATIONS, 1), "elderly_65": 2}


def test_counts_by_key_population_include_pregnancy_chronic_conditions_and_recorded_tags(client, regions):
    people = _mixed_population()
    centre = f.centre()
    for person in people.values():
        agreement(person, centre)
    response = client.get(f"/api/v1/settlement/signed-counts?region=430523&as_of={TODAY}&group_by=key_population",
                          headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    signed = {row["key"]: row["figures"]["signed"] for row in response.get_json()["rows"]}
    assert signed == {**dict.fromkeys(KEY_POPULATIONS, 1), "elderly_65": 2}
    by_centre = client.get(f"/api/v1/settlement/signed-counts?region=430523&as_of={TODAY}", headers=as_bureau())
    [row] = by_centre.get_json()["rows"]
    assert (row["figures"]["hypertension"], row["figures"]["postpartum"], row["figures"]["disabled"]) == (1, 1, 1)


def test_key_population_coverage_counts_chronic_pregnant_and_tagged_villagers(client, regions):
    centre = f.centre()
    home = centre.windows[0].id
    hypertensive, disabled = f.resident(home_window_id=home), f.resident(home_window_id=home)
    mother, plain = f.resident(home_window_id=home), f.resident(home_window_id=home)
    _condition(hypertensive, ConditionKind.HYPERTENSION)
    _tag(disabled, RecordedTag.DISABLED)
    _pregnancy(mother, TODAY - timedelta(days=60))
    core_db.session.commit()
    agreement(hypertensive, centre)
    agreement(plain, centre)
    response = client.get("/api/v1/settlement/evaluation?region=430523&cycle=2026", headers=as_bureau())
    assert response.status_code == 200, response.get_json()
    row = {r["centre_id"]: r for r in response.get_json()["centres"]}[centre.id]
    assert (row["key_population_residents"], row["key_population_signed"], row["key_population_coverage"]) == (3, 1, "0.3333")


# Rosters ---------------------------------------------------------------------------------------------

def _packages(signed, *codes, dropped=()):
    for code in (*codes, *dropped):
        core_db.session.add(AgreementPackage(agreement_id=signed.id, edition="2025", package_code=code, price_fen=0,
                                             added_on=date(2026, 1, 1), added_by="staff:1",
                                             dropped_on=date(2026, 2, 1) if code in dropped else None))
    core_db.session.commit()


@pytest.fixture
def signed_with_packages(regions):
    centre = f.centre()
    elder = agreement(f.resident(born=date(1950, 1, 1)), centre)
    _packages(elder, "basic", "value-added", "elderly", dropped=("home-service",))
    plain = agreement(f.resident(), centre)
    _packages(plain, "basic", "value-added")
    bare = agreement(f.resident(), centre)
    clock.advance(rosters.SETTLE + timedelta(seconds=1))  # rosters serve settled changes
    return {elder.id: ["basic", "value-added", "elderly"], plain.id: ["basic", "value-added"], bare.id: []}


def _statements(during):
    seen = []
    engine = core_db.session.get_bind().engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        during()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_roster_lists_each_agreements_current_packages_personalised_too_with_one_query_a_page(client, signed_with_packages):
    pages = {}
    count = {limit: _statements(lambda limit=limit: pages.setdefault(limit, client.get(
        f"/api/v1/rosters?region=430523&limit={limit}", headers=as_bureau()).get_json())) for limit in (1, 3)}
    assert {item["id"]: item["packages"] for item in pages[3]["items"]} == signed_with_packages
    assert count[1] == count[3]  # one package query per page, whatever its length


def test_roster_csv_carries_the_packages_chunk_by_chunk(client, signed_with_packages, monkeypatch):
    monkeypatch.setattr(rosters, "STREAM_BATCH", 2)
    response = client.get("/api/v1/rosters?region=430523", headers={**as_bureau(), "Accept": "text/csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {int(row["id"]): row["packages"] for row in rows} == {
        agreement_id: "+".join(codes) for agreement_id, codes in signed_with_packages.items()}


# Actual costs (Zhanjiang [003 §六]) ---------------------------------------------------------------------

@pytest.fixture
def zhanjiang(regions):
    cheap, dear = f.centre(region="440823"), f.centre(region="440823")
    for centre in (cheap, dear):
        for _ in range(3):
            agreement(f.resident(insured_in="440823"), centre)
    clock.set_today(date(2026, 3, 1), hour=0)
    settlement.freeze_month("2026-03")
    clock.set_today(TODAY)
    return cheap, dear


def _file(client, costs, region="440823", bureau="440823", month="2026-03"):
    return client.put(f"/api/v1/settlement/actual-costs/{month}", headers=as_bureau(bureau),
                      json={"region": region, "costs": costs})


def _settled(client, query=""):
    response = client.get(f"/api/v1/settlement/capitation?region=440823&period=2026-03{query}", headers=as_bureau("440823"))
    assert response.status_code == 200, response.get_json()
    return {row["centre_id"]: (row["actual_cost_fen"], row["settled_fen"], row["payable_fen"])
            for row in response.get_json()["centres"]}


def _filings():
    return core_db.session.scalar(select(func.count(ActualCostFiling.id))), core_db.session.scalar(select(func.count()).select_from(ActualCost))


def test_capitation_settles_the_latest_filed_actual_costs_earlier_filings_stay_as_history(client, zhanjiang):
    cheap, dear = zhanjiang
    first = _file(client, [{"centre_id": cheap.id, "cost_fen": 1000}, {"centre_id": dear.id, "cost_fen": 2000}])
    assert first.status_code == 200, first.get_json()
    assert (first.get_json()["region"], first.get_json()["filed_by"]) == ("440823", "client:bureau-440823")
    # Fund 3 x 5000 / 12 = 1250: cheap min(1000, 1250) x 0.95 = 950; dear capped at 1250 x 0.95 = 1188.
    assert _settled(client) == {cheap.id: (1000, 1000, 950), dear.id: (2000, 1250, 1188)}
    assert _file(client, [{"centre_id": cheap.id, "cost_fen": 1200}]).status_code == 200
    assert _settled(client, f"&actual_cost={dear.id}:800") == {cheap.id: (1200, 1200, 1140), dear.id: (800, 800, 760)}
    assert _filings() == (2, 3)
    audited = core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == "settlement.actual_costs")
                                      .order_by(AuditEvent.id)).all()
    assert [(e.actor, e.target_id, e.detail["total_fen"]) for e in audited] == [
        ("client:bureau-440823", "440823", 3000), ("client:bureau-440823", "440823", 1200)]


def test_a_later_filing_supersedes_so_a_centre_it_omits_has_no_actual_cost(client, zhanjiang):
    cheap, dear = zhanjiang
    _file(client, [{"centre_id": cheap.id, "cost_fen": 1000}, {"centre_id": dear.id, "cost_fen": 2000}])
    _file(client, [{"centre_id": cheap.id, "cost_fen": 900}])
    response = client.get("/api/v1/settlement/capitation?region=440823&period=2026-03", headers=as_bureau("440823"))
    assert response.status_code == 422
    assert "actual_cost" in response.get_json()["errors"]["query"]


def test_actual_costs_for_a_centre_outside_the_region_is_422_naming_the_item_and_writes_nothing(client, zhanjiang):
    cheap, _ = zhanjiang
    elsewhere = f.centre(region="430523")
    response = _file(client, [{"centre_id": cheap.id, "cost_fen": 1000}, {"centre_id": elsewhere.id, "cost_fen": 5}])
    assert response.status_code == 422
    assert "costs.1.centre_id" in response.get_json()["errors"]["json"]
    twice = _file(client, [{"centre_id": cheap.id, "cost_fen": 1000}, {"centre_id": cheap.id, "cost_fen": 5}])
    assert twice.status_code == 422 and "costs.1.centre_id" in twice.get_json()["errors"]["json"]
    assert _filings() == (0, 0)


def test_actual_costs_of_another_region_is_403_and_writes_nothing(client, zhanjiang):
    cheap, _ = zhanjiang
    response = _file(client, [{"centre_id": cheap.id, "cost_fen": 1000}], bureau="430523")
    assert response.status_code == 403
    assert _filings() == (0, 0)
    outcomes = core_db.session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "settlement.actual_costs")).all()
    assert outcomes == ["refused_403"]


@pytest.mark.parametrize("body, field", [
    ({"costs": [{"centre_id": 1, "cost_fen": 10.5}]}, "costs"),
    ({"costs": [{"centre_id": 1, "cost_fen": "1000"}]}, "costs"),
    ({"costs": [{"centre_id": 1, "cost_fen": -1}]}, "costs"),
    ({"costs": [{"centre_id": 1, "cost_fen": 1}] * 1001}, "costs"),
    ({"region": "440800", "costs": []}, "region"),  # the city is not the pooling region
])
def test_actual_costs_are_integer_fen_in_a_bounded_array_for_a_pooling_region(client, zhanjiang, body, field):
    response = client.put("/api/v1/settlement/actual-costs/2026-03", headers=as_bureau("440800"),
                          json={"region": "440823", **body})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert _filings() == (0, 0)


def test_actual_costs_month_must_be_yyyy_mm(client, zhanjiang):
    response = _file(client, [], month="2026-13")
    assert response.status_code == 422 and "month" in response.get_json()["errors"]["path"]
    assert _filings() == (0, 0)


# Snapshots frozen in the database ---------------------------------------------------------------------

def test_a_frozen_snapshot_cannot_be_updated_or_deleted_in_the_database(db, zhanjiang):
    snapshot = db.scalar(select(Snapshot).where(Snapshot.region_code == "440823"))
    line_id = snapshot.lines[0].id
    statements = (update(Snapshot).values(content_hash="forged").where(Snapshot.id == snapshot.id),
                  delete(Snapshot).where(Snapshot.id == snapshot.id),
                  update(SnapshotLine).values(figures={"counted": 99}).where(SnapshotLine.id == line_id),
                  delete(SnapshotLine).where(SnapshotLine.id == line_id))
    for statement in statements:
        with pytest.raises(DBAPIError, match="frozen"):
            with db.begin_nested():
                db.execute(statement)
    db.expire_all()
    assert db.get(Snapshot, snapshot.id).content_hash == settlement.content_hash(snapshot)
    assert db.get(SnapshotLine, line_id).figures["counted"] == 3
