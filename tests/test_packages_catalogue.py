"""The package catalogue: the full annex-1 2025 edition, eligibility, centre prices."""

from datetime import date

from sqlalchemy import func, select

from packages import catalogue
from packages.models import PackageItem, PackagePrice
from tests import factories as f
from tests.packages_support import price, site


def test_the_full_annex_1_catalogue_is_served_with_every_item(client, db):
    place = site()
    response = client.get("/api/v1/packages", headers=f.as_staff(place.doctor))
    assert response.status_code == 200
    served = response.get_json()["items"]
    assert [p["code"] for p in served] == [p.code for p in catalogue.PACKAGES_2025]
    assert {p["code"]: len(p["items"]) for p in served} == {p.code: len(p.items) for p in catalogue.PACKAGES_2025}
    assert db.scalar(select(func.count()).select_from(PackageItem)) == sum(len(p.items) for p in catalogue.PACKAGES_2025)
    assert all(p["edition"] == "2025" for p in served)
    value_added = next(p for p in served if p["code"] == "value-added")
    assert len([i for i in value_added["items"] if i["code"].startswith("routine-")]) == 10
    assert {"code": "chronic-follow-up", "kind": "visit", "title": value_added["items"][0]["title"],
            "frequency": "4 a year", "population": "chronic"} == value_added["items"][0]


def test_packages_filter_by_tier(client, db):
    place = site()
    response = client.get("/api/v1/packages?tier=personalised", headers=f.as_staff(place.doctor))
    assert {p["code"] for p in response.get_json()["items"]} == {
        "elderly", "child", "maternal", "hypertension", "diabetes", "copd", "tb", "rehab-tumour", "rehab-stroke",
        "rehab-mental", "home-service"}


def test_eligible_for_me_shows_a_child_the_child_pack_and_not_the_elderly_pack(client, db, wechat):
    site()
    child = f.resident(born=date(2023, 6, 1), openid="child-openid")
    codes = {p["code"] for p in client.get("/api/v1/packages?eligible_for=me", headers=f.as_resident(child)).get_json()["items"]}
    assert {"basic", "value-added", "child", "home-service"} == codes


def test_eligible_for_me_is_for_residents_only(client, db):
    place = site()
    response = client.get("/api/v1/packages?eligible_for=me", headers=f.as_staff(place.doctor))
    assert response.status_code == 422
    assert "eligible_for" in response.get_json()["errors"]["query"]


def test_the_catalogue_is_public_but_eligible_for_me_needs_a_resident_token(client, db):
    assert client.get("/api/v1/packages").status_code == 200
    assert client.get("/api/v1/packages/basic").status_code == 200
    assert client.get("/api/v1/packages?eligible_for=me").status_code == 401


def test_one_package_with_items_and_unknown_package_is_404(client, db):
    place = site()
    found = client.get("/api/v1/packages/child", headers=f.as_staff(place.doctor))
    assert found.status_code == 200
    assert found.get_json()["eligible"] == ["child_0_6"]
    assert client.get("/api/v1/packages/nothing", headers=f.as_staff(place.doctor)).status_code == 404


def test_centre_admin_sets_personalised_price_in_fen_and_the_centre_catalogue_shows_it(client, db):
    place = site()
    assert price(client, place, "elderly", 12000).status_code == 200
    assert price(client, place, "elderly", 15000).get_json()["price_fen"] == 15000
    listed = client.get(f"/api/v1/packages?centre={place.centre.id}", headers=f.as_staff(place.doctor)).get_json()["items"]
    prices = {p["code"]: p["price_fen"] for p in listed}
    assert prices["elderly"] == 15000
    assert prices["child"] is None  # not offered here
    assert prices["basic"] == prices["value-added"] == 0


def test_basic_and_value_added_cannot_be_priced(client, db):
    place = site()
    response = price(client, place, "basic", 100)
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]["path"]
    assert db.scalar(select(func.count()).select_from(PackagePrice)) == 0


def test_price_must_be_whole_non_negative_fen(client, db):
    place = site()
    assert price(client, place, "elderly", -1).status_code == 422
    response = client.put(f"/api/v1/packages/elderly/prices/{place.centre.id}", json={"price_fen": 12.5},
                          headers=f.as_staff(place.admin))
    assert response.status_code == 422
    assert "price_fen" in response.get_json()["errors"]["json"]
    assert db.scalar(select(func.count()).select_from(PackagePrice)) == 0


def test_centre_admin_prices_only_their_own_centre_and_doctors_not_at_all(client, db):
    place, other = site(), f.centre()
    response = client.put(f"/api/v1/packages/elderly/prices/{other.id}", json={"price_fen": 100},
                          headers=f.as_staff(place.admin))
    assert response.status_code == 403
    assert client.put(f"/api/v1/packages/elderly/prices/{place.centre.id}", json={"price_fen": 100},
                      headers=f.as_staff(place.doctor)).status_code == 403
    assert db.scalar(select(func.count()).select_from(PackagePrice)) == 0
