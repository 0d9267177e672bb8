from tests import factories as f


def test_resident_logs_in_binds_identity_and_signs(client, db, wechat):
    f.regions()
    centre = f.centre()
    login = client.post("/api/v1/auth/wechat-login", json={"code": "ok-alice"})
    assert login.status_code == 200, login.get_json()
    assert login.get_json()["identity_bound"] is False
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    number = f.id_number(__import__("datetime").date(1956, 7, 1))
    bound = client.post("/api/v1/me/identity", json={"name": "张三", "id_number": number, "phone": "13812345678"}, headers=headers)
    assert bound.status_code == 200, bound.get_json()
    assert bound.get_json()["phone"] == "138****5678"
    signed = client.post("/api/v1/agreements", json={"centre_id": centre.id, "term_years": 1, "consent_version": "2025-01"},
                         headers=headers)
    assert signed.status_code == 201, signed.get_json()
    assert signed.get_json()["agreements"][0]["counts_for_capitation"] is False
