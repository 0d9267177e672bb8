"""The agreement itself (issue part F): the current text, and each agreement as HTML and PDF in Chinese."""

from __future__ import annotations

import io

from pypdf import PdfReader

from core import db as core_db
from core.auth import Role
from core.crypto import mask_id_number
from tests import factories as f


def _sign(client, settings, person, centre):
    response = client.post("/api/v1/agreements", headers=f.as_resident(person), json={
        "centre_id": centre.id, "team_id": centre.teams[0].id, "term_years": 1,
        "consent_version": settings.CONSENT_TEXT_VERSION})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["items"][0]["id"]


def test_agreement_text_gives_the_consent_version_a_signing_needs(client, centres, settings):
    text = client.get(f"/api/v1/agreement-text?centre_id={centres['home'].id}").get_json()
    assert text["version"] == settings.CONSENT_TEXT_VERSION
    assert text["resident_rights"] and text["centre_duties"]
    assert {"basic", "value-added"} <= {p["code"] for p in text["packages"]}


def test_the_pdf_names_the_resident_by_masked_id_number_and_the_doctor(client, alice, centres, settings):
    doctor = f.team_doctor(centres["home"].teams[0], name="王志明")
    core_db.session.add(doctor)
    core_db.session.commit()
    signed = client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "doctor_id": doctor.id, "term_years": 1,
        "consent_version": settings.CONSENT_TEXT_VERSION})
    assert signed.status_code == 201, signed.get_json()
    agreement_id = signed.get_json()["items"][0]["id"]
    response = client.get(f"/api/v1/agreements/{agreement_id}/document.pdf", headers=f.as_resident(alice))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert mask_id_number(alice.id_number) in text
    assert alice.id_number not in text
    assert "签约家庭医生：王志明" in text and doctor.contact in text and "家庭医生签约服务协议" in text and settings.CONSENT_TEXT_VERSION in text


def test_staff_of_the_centre_get_the_html_and_staff_elsewhere_are_refused(client, alice, centres, settings):
    agreement_id = _sign(client, settings, alice, centres["home"])
    mine = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    page = client.get(f"/api/v1/agreements/{agreement_id}/document.html", headers=mine)
    assert page.status_code == 200 and "基础服务包" in page.get_data(as_text=True)
    elsewhere = f.as_staff(f.staff(centre=centres["other"]))
    assert client.get(f"/api/v1/agreements/{agreement_id}/document.pdf", headers=elsewhere).status_code == 403


def test_another_resident_does_not_learn_the_agreement_exists(client, alice, centres, settings):
    agreement_id = _sign(client, settings, alice, centres["home"])
    stranger = f.resident(openid="wx-stranger-doc")
    assert client.get(f"/api/v1/agreements/{agreement_id}/document.pdf", headers=f.as_resident(stranger)).status_code == 404


def test_the_masked_id_number_is_not_undone_by_the_birth_date_beside_it(client, alice, centres, settings):
    agreement_id = _sign(client, settings, alice, centres["home"])
    staff = f.as_staff(f.staff(role=Role.CENTRE_ADMIN, centre=centres["home"]))
    page = client.get(f"/api/v1/agreements/{agreement_id}/document.html", headers=staff).get_data(as_text=True)
    pdf = client.get(f"/api/v1/agreements/{agreement_id}/document.pdf", headers=f.as_resident(alice))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    for shown in (page, text.replace("\n", "")):
        assert mask_id_number(alice.id_number) in shown and f"出生年份：{alice.birth_date.year}" in shown
        assert alice.birth_date.isoformat() not in shown and alice.id_number[6:14] not in shown


def test_the_agreement_text_of_a_region_says_how_its_agreements_renew(client, centres):
    text = client.get("/api/v1/agreement-text?region=430523").get_json()
    assert text["region_code"] == "430523" and text["renewal"] == "期满未变更的自动续约"
    of_centre = client.get(f"/api/v1/agreement-text?centre_id={centres['home'].id}").get_json()
    assert of_centre["region_code"] == "430523" and of_centre["renewal"] == text["renewal"]


def test_the_agreement_text_of_an_unknown_centre_or_region_is_refused_naming_the_field(client, centres):
    for query, field in (("centre_id=999999", "centre_id"), (f"centre_id={centres['hospital'].id}", "centre_id"),
                         ("region=990000", "region"), ("region=abc", "region"),
                         (f"centre_id={centres['xinshao'].id}&region=430523", "region")):
        response = client.get(f"/api/v1/agreement-text?{query}")
        assert response.status_code == 422, (query, response.get_json())
        assert field in response.get_json()["errors"]["query"], query


def test_a_childs_agreement_names_the_guardian_who_consented(client, alice, centres, settings):
    child = client.post(f"/api/v1/residents/{alice.id}/newborns", headers=f.as_resident(alice),
                        json={"sex": "F", "birth_date": "2026-03-12"}).get_json()
    signed = client.post("/api/v1/agreements", headers=f.as_resident(alice), json={
        "centre_id": centres["home"].id, "term_years": 1, "consent_version": settings.CONSENT_TEXT_VERSION,
        "resident_ids": [child["id"]]})
    assert signed.status_code == 201, signed.get_json()
    page = client.get(f"/api/v1/agreements/{signed.get_json()['items'][0]['id']}/document.html", headers=f.as_resident(alice))
    text = page.get_data(as_text=True)
    assert "身份证号：（未发放）" in text and f"同意人：{alice.name}（监护人）" in text
