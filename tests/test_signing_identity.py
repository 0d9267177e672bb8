"""Logging in and binding identity (issue 2: identity and auth)."""

from datetime import date

from sqlalchemy import func, select, text

from core.auth import Role
from registry.models import Resident
from tests import factories as f


def login(client, code="ok-wx1"):
    response = client.post("/api/v1/auth/wechat-login", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def bind(client, headers, number, name="张三", **proof):
    return client.post("/api/v1/me/identity", json={"name": name, "id_number": number, **proof}, headers=headers)


def residents(db) -> int:
    return db.scalar(select(func.count(Resident.id)))


def test_wechat_login_exchanges_the_code_with_code2session(client, wechat):
    response = client.post("/api/v1/auth/wechat-login", json={"code": "ok-wx1"})
    body = response.get_json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["identity_bound"] is False
    name, params = wechat.calls[-1]
    assert name == "jscode2session"
    assert params["js_code"] == "ok-wx1" and params["grant_type"] == "authorization_code" and params["appid"]


def test_a_code_wechat_rejects_is_401(client, wechat):
    wechat.fail_login("stale", errcode=40029)
    response = client.post("/api/v1/auth/wechat-login", json={"code": "stale"})
    assert response.status_code == 401
    assert response.get_json()["details"]["wechat_errcode"] == 40029


def test_wechat_rate_limit_45011_is_429(client, wechat):
    wechat.fail_login("hurry", errcode=45011)
    assert client.post("/api/v1/auth/wechat-login", json={"code": "hurry"}).status_code == 429


def test_wechat_blocked_user_40226_is_403(client, wechat):
    wechat.fail_login("risky", errcode=40226)
    assert client.post("/api/v1/auth/wechat-login", json={"code": "risky"}).status_code == 403


def test_wechat_timeout_and_5xx_are_502(client, wechat):
    wechat.slow_codes.add("slow")
    wechat.slow_seconds = 1.5
    wechat.broken_codes.add("broken")
    assert client.post("/api/v1/auth/wechat-login", json={"code": "slow"}).status_code == 502
    assert client.post("/api/v1/auth/wechat-login", json={"code": "broken"}).status_code == 502


def test_binding_identity_derives_birth_year_and_sex_and_masks_the_answer(client, centres, wechat):
    headers = login(client)
    number = f.id_number(date(1956, 7, 1))
    response = bind(client, headers, number, phone_code="phone-13812345678")
    body = response.get_json()
    assert response.status_code == 200
    assert body["birth_year"] == 1956 and "birth_date" not in body and body["sex"] == "F"
    assert body["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert body["phone"] == "138****5678" and body["verified"] is False
    assert client.post("/api/v1/auth/wechat-login", json={"code": "ok-wx1"}).get_json()["identity_bound"] is True


def test_a_bad_id_number_is_422_naming_the_field_and_nothing_is_written(client, db, centres):
    headers = login(client)
    number = f.id_number(date(1980, 1, 1))
    wrong_check = number[:17] + ("0" if number[17] != "0" else "1")
    before = residents(db)
    response = bind(client, headers, wrong_check)
    assert response.status_code == 422
    assert "id_number" in response.get_json()["errors"]["json"]
    assert residents(db) == before


def test_a_birth_date_in_the_future_is_422(client, centres):
    headers = login(client)
    number = f.id_number(date(2026, 3, 17))
    assert bind(client, headers, number).status_code == 422


def test_one_id_number_binds_to_one_openid(client, db, centres):
    number = f.id_number(date(1980, 1, 1))
    assert bind(client, login(client, "ok-first"), number).status_code == 200
    response = bind(client, login(client, "ok-second"), number)
    assert response.status_code == 403 and response.get_json()["details"]["reason"] == "proof_required"
    assert db.scalar(select(Resident.openid).where(Resident.birth_date == date(1980, 1, 1))) == "first"


def test_one_openid_binds_to_one_id_number(client, db, centres):
    headers = login(client)
    assert bind(client, headers, f.id_number(date(1980, 1, 1))).status_code == 200
    before = residents(db)
    assert bind(client, headers, f.id_number(date(1981, 1, 1))).status_code == 409
    assert residents(db) == before


def test_binding_to_a_resident_registered_on_site_needs_proof_and_a_wrong_name_gets_the_same_answer(
        client, db, centres, wechat):
    known = f.resident(name="王五", phone="13912340000")
    wrong_name, right_name = (bind(client, login(client), known.id_number, name=name) for name in ("王六", "王五"))
    assert wrong_name.status_code == right_name.status_code == 403
    assert wrong_name.get_json() == right_name.get_json()
    proven = bind(client, login(client), known.id_number, name="王五", phone_code="phone-13912340000")
    assert proven.status_code == 200 and proven.get_json()["id"] == known.id


def test_a_database_dump_shows_no_plaintext_id_number_or_phone(client, db, centres, wechat):
    number = f.id_number(date(1980, 1, 1))
    bind(client, login(client), number, phone_code="phone-13912345678")
    stored = db.execute(text("SELECT id_number, phone, id_number_hash FROM residents")).all()
    dump = repr(stored)
    assert number not in dump and number[6:14] + number[14:] not in dump
    assert "13912345678" not in dump


def test_me_shows_the_resident_and_household(client, alice):
    child = f.resident(born=date(2022, 1, 1), household=alice.household, openid=None)
    response = client.get("/api/v1/me", headers=f.as_resident(alice))
    assert response.status_code == 200
    assert [m["id"] for m in response.get_json()["household"]] == [child.id]


def test_me_before_binding_is_403_asking_to_bind(client, centres):
    response = client.get("/api/v1/me", headers=login(client))
    assert response.status_code == 403
    assert response.get_json()["details"]["reason"] == "identity_not_bound"


def test_adding_a_household_member(client, db, alice):
    number = f.id_number(date(2021, 6, 1))
    response = client.post("/api/v1/me/household-members", json={"name": "小明", "id_number": number},
                           headers=f.as_resident(alice))
    assert response.status_code == 201
    assert db.get(Resident, response.get_json()["id"]).household_id == alice.household_id


def test_staff_login_with_password(client, centres):
    doctor = f.staff(centre=centres["home"])
    ok = client.post("/api/v1/auth/staff-login", json={"username": doctor.username, "password": f.PASSWORD})
    assert ok.status_code == 200 and ok.get_json()["access_token"]
    wrong = client.post("/api/v1/auth/staff-login", json={"username": doctor.username, "password": "nope"})
    assert wrong.status_code == 401
    unknown = client.post("/api/v1/auth/staff-login", json={"username": "nobody", "password": "nope"})
    assert unknown.status_code == 401


def test_bureau_client_credentials_give_a_token(client, db, centres):
    from core.auth import hash_secret
    from registry.models import ApiClient

    db.add(ApiClient(client_id="bureau-1", secret_hash=hash_secret("s3cret"), name="医保局", region_code="430523"))
    db.commit()
    form = {"grant_type": "client_credentials", "client_id": "bureau-1", "client_secret": "s3cret"}
    assert client.post("/api/v1/auth/token", data=form).status_code == 200
    assert client.post("/api/v1/auth/token", data={**form, "client_secret": "x"}).status_code == 401
    assert client.post("/api/v1/auth/token", data={**form, "grant_type": "password"}).status_code == 422


def test_a_missing_or_forged_token_is_401(client, centres):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"}).status_code == 401


def test_an_expired_token_is_401(client, alice):
    from datetime import timedelta

    from core import clock

    headers = f.as_resident(alice)
    clock.advance(timedelta(hours=3))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_doctor_token_on_a_resident_route_is_403(client, centres):
    doctor = f.staff(role=Role.DOCTOR, centre=centres["home"])
    assert client.get("/api/v1/me", headers=f.as_staff(doctor)).status_code == 403


def test_doctor_registers_a_resident_on_site_and_finds_them_again(client, db, centres):
    doctor = f.staff(centre=centres["home"])
    number = f.id_number(date(1950, 2, 2))
    body = {"name": "赵六", "id_number": number, "insurance_scheme": "resident", "insurance_region_code": "430523",
            "identity_document": "id_card"}
    first = client.post("/api/v1/residents", json=body, headers=f.as_staff(doctor))
    again = client.post("/api/v1/residents", json=body, headers=f.as_staff(doctor))
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    assert first.get_json()["id_number"].count("*") == 11
