"""Helpers for the identity tests (POLICY.md signing rules 9 and 10): logins through the WeChat stand-in,
the calls an attacker makes, and a fingerprint of everything a victim has, to show nothing changed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core import db as core_db
from core.models import AuditEvent
from registry.models import IdentityCheck, IdentityCode, Resident
from signing.models import Agreement, ChangeRequest
from tests import factories as f

CONSENT = "2025-01"


def login(client, openid: str) -> dict[str, str]:
    """A mini-program session: wx.login() code through code2Session of the stand-in."""
    response = client.post("/api/v1/auth/wechat-login", json={"code": f"ok-{openid}"})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def bind(client, headers, person_or_number, name=None, **proof):
    number = getattr(person_or_number, "id_number", person_or_number)
    name = name or getattr(person_or_number, "name", "张三")
    return client.post("/api/v1/me/identity", json={"name": name, "id_number": number, **proof}, headers=headers)


def register_on_site(client, doctor, **body):
    return client.post("/api/v1/residents", json=body, headers=f.as_staff(doctor))


def presence_code(client, headers) -> str:
    response = client.post("/api/v1/me/presence-codes", headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["code"]


def handout(client, doctor, resident_id: int, purpose: str) -> str:
    response = client.post(f"/api/v1/residents/{resident_id}/binding-codes", json={"purpose": purpose},
                           headers=f.as_staff(doctor))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["code"]


def sign_body(centre, **extra) -> dict:
    return {"centre_id": centre.id, "term_years": 1, "consent_version": CONSENT, **extra}


def fingerprint(resident_id: int) -> dict:
    """Everything about a person an attacker could change or create."""
    core_db.session.expire_all()
    person = core_db.session.get(Resident, resident_id)
    count = lambda model, *where: core_db.session.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
    return {
        "row": {column: getattr(person, column) for column in (
            "name", "openid", "phone_hash", "household_id", "household_claimed", "verified_at", "binding_proof",
            "home_window_id", "residence_window_id", "died_on", "insurance_scheme", "insurance_region_code")},
        "agreements": count(Agreement, Agreement.resident_id == resident_id),
        "change_requests": count(ChangeRequest, ChangeRequest.agreement_id.in_(
            select(Agreement.id).where(Agreement.resident_id == resident_id))),
        "checks": count(IdentityCheck, IdentityCheck.resident_id == resident_id),
        "codes": count(IdentityCode, IdentityCode.resident_id == resident_id),
    }


def residents_count() -> int:
    return core_db.session.scalar(select(func.count(Resident.id)))


def audited(action: str) -> list[AuditEvent]:
    return list(core_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def grandmother(centre, **fields) -> Resident:
    """A verified elderly resident a doctor registered on site, with her phone on file and no WeChat account."""
    return f.resident(name="王奶奶", born=date(1948, 3, 2), phone="13700001111", openid=None,
                      registered_by_centre_id=centre.id, **fields)
