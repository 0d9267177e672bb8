"""Choosing packages when signing, and adding or dropping personalised ones later with history."""

from datetime import date

from sqlalchemy import func, select

from care.models import Visit
from signing.models import Agreement, AgreementPackage
from tests import factories as f
from tests.packages_support import price, sign, signed, site


def current_codes(db, agreement_id):
    return set(db.scalars(select(AgreementPackage.package_code).where(
        AgreementPackage.agreement_id == agreement_id, AgreementPackage.dropped_on.is_(None))))


def test_signing_adds_basic_and_value_added_and_the_chosen_personalised_package_at_the_centre_price(client, db):
    place = site()
    price(client, place, "elderly", 12000)
    elder = signed(client, place, born=date(1950, 1, 1), package_codes=["elderly"])
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == elder.id))
    rows = {r.package_code: r.price_fen for r in db.scalars(select(AgreementPackage).where(AgreementPackage.agreement_id == agreement.id))}
    assert rows == {"basic": 0, "value-added": 0, "elderly": 12000}


def test_signing_without_package_codes_still_includes_basic_and_value_added(client, db):
    place = site()
    person = signed(client, place, born=date(1980, 1, 1))
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == person.id))
    assert current_codes(db, agreement.id) == {"basic", "value-added"}


def test_unknown_package_at_signing_is_422_naming_it_and_nothing_is_written(client, db):
    place = site()
    person = f.resident(born=date(1980, 1, 1))
    response = sign(client, place, person, package_codes=["caviar"])
    assert response.status_code == 422
    assert response.get_json()["details"]["package_code"] == "caviar"
    assert "package_codes" in response.get_json()["errors"]["json"]
    assert db.scalar(select(func.count()).select_from(Agreement)) == 0
    assert db.scalar(select(func.count()).select_from(AgreementPackage)) == 0


def test_ineligible_package_at_signing_is_422_and_nothing_is_written(client, db):
    place = site()
    price(client, place, "child", 5000)
    adult = f.resident(born=date(1980, 1, 1))
    response = sign(client, place, adult, package_codes=["child"])
    assert response.status_code == 422
    assert response.get_json()["details"]["package_code"] == "child"
    assert db.scalar(select(func.count()).select_from(Agreement)) == 0
    assert db.scalar(select(func.count()).select_from(Visit)) == 0


def test_a_personalised_package_the_centre_does_not_offer_is_422(client, db):
    place = site()
    response = sign(client, place, f.resident(born=date(1950, 1, 1)), package_codes=["elderly"])
    assert response.status_code == 422
    assert "not offered" in response.get_json()["message"]
    assert db.scalar(select(func.count()).select_from(Agreement)) == 0


def test_chronic_pack_needs_the_diagnosis(client, db):
    place = site()
    price(client, place, "hypertension", 8000)
    response = sign(client, place, f.resident(born=date(1960, 1, 1)), package_codes=["hypertension"])
    assert response.status_code == 422
    assert response.get_json()["details"]["package_code"] == "hypertension"


def test_a_personalised_package_is_added_and_dropped_later_and_the_history_is_kept(client, db):
    place = site()
    price(client, place, "elderly", 12000)
    elder = signed(client, place, born=date(1950, 1, 1), openid="elder-openid")
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == elder.id))
    url = f"/api/v1/agreements/{agreement.id}/packages"
    added = client.post(url, json={"code": "elderly"}, headers=f.as_resident(elder))
    assert added.status_code == 201, added.get_json()
    assert client.post(url, json={"code": "elderly"}, headers=f.as_resident(elder)).status_code == 409
    dropped = client.delete(f"{url}/elderly", headers=f.as_staff(place.doctor))
    assert dropped.status_code == 200
    assert dropped.get_json()["dropped_on"] == "2026-03-16"
    assert client.post(url, json={"code": "elderly"}, headers=f.as_resident(elder)).status_code == 201
    history = client.get(url, headers=f.as_resident(elder)).get_json()["items"]
    assert [(h["package_code"], h["dropped_on"]) for h in history] == [
        ("basic", None), ("value-added", None), ("elderly", "2026-03-16"), ("elderly", None)]


def test_basic_and_value_added_cannot_be_dropped(client, db):
    place = site()
    person = signed(client, place, born=date(1980, 1, 1))
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == person.id))
    response = client.delete(f"/api/v1/agreements/{agreement.id}/packages/basic", headers=f.as_staff(place.doctor))
    assert response.status_code == 422
    assert current_codes(db, agreement.id) == {"basic", "value-added"}


def test_adding_an_ineligible_package_later_is_422_and_nothing_is_written(client, db):
    place = site()
    price(client, place, "maternal", 30000)
    person = signed(client, place, born=date(1980, 1, 1))
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == person.id))
    response = client.post(f"/api/v1/agreements/{agreement.id}/packages", json={"code": "maternal"},
                           headers=f.as_staff(place.doctor))
    assert response.status_code == 422
    assert current_codes(db, agreement.id) == {"basic", "value-added"}


def test_another_centres_doctor_cannot_change_the_packages(client, db):
    place, other = site(), site()
    price(client, place, "elderly", 100)
    elder = signed(client, place, born=date(1950, 1, 1))
    agreement = db.scalar(select(Agreement).where(Agreement.resident_id == elder.id))
    response = client.post(f"/api/v1/agreements/{agreement.id}/packages", json={"code": "elderly"},
                           headers=f.as_staff(other.doctor))
    assert response.status_code == 403
    assert current_codes(db, agreement.id) == {"basic", "value-added"}


def test_signing_builds_the_plan_of_an_elderly_resident(client, db):
    place = site()
    elder = signed(client, place, born=date(1946, 1, 10))
    assert set(db.scalars(select(Visit.code).where(Visit.resident_id == elder.id))) == {
        "2026-health-check", "2026-tcm", "2026-home-visit"}
    assert set(db.scalars(select(Visit.team_id).where(Visit.resident_id == elder.id))) == {place.team_id}
