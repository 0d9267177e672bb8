"""The limits of the HTTP scenarios: the same work as ours, written by hand.

A small Flask app served by the same gunicorn (through bench.serve, `bench.handwritten:create_app()`),
with one psycopg connection per worker thread (gunicorn.conf.py, read by every bench server, runs gthread
workers; ours has a session per thread too) and neither ORM nor schemas. Both endpoints check the bearer token as core.auth does (PyJWT, the same key, then the
session it names, read by primary key: core/sessions.py) and write the audit event core/audit.py
writes for the view.

- GET /api/v1/me/visits: the statements our path sends (care/followups.py visits_of_household) — the
  caller by openid, then the household's visits with each visit's resident — and the same JSON
  (`{items, next_cursor}`).
- POST /api/v1/agreements: the signing the benchmark sends (an adult resident signing themself with a
  centre, no team, doctor, village clinic, hospitals or personalised packages chosen; anything else is a
  422 here). One transaction: the centre with its region and policy profile (read once), the resident
  locked, the one-centre-per-cycle and ended-in-cycle checks in one read, the team and its lead doctor
  (signing/doctors.py), the health facts the plan needs, then one statement writing what a signing
  writes — the agreement (team, doctor, basis), its consent, its mandatory packages, its follow-up visits
  (care/plans.py) and the audit event — and the same JSON. Cycles and the plan come from the same pure
  functions.
- GET|POST /bare: a constant; the ceiling of gunicorn + Flask on this machine.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date
from types import SimpleNamespace

import jwt
import psycopg
from flask import Flask, current_app, jsonify, request
from sqlalchemy.engine import make_url

from care import schedule
from core import clock, crypto
from core.config import Settings
from packages import catalogue
from registry.idcard import age_on
from registry.models import ConditionKind
from registry.populations import HealthFacts
from signing import cycles

HOLDING = ["pending", "active", "change_pending"]
MANDATORY = [package.code for package in catalogue.PACKAGES_2025 if package.tier in catalogue.MANDATORY_TIERS]
SIGN_FIELDS = {"centre_id", "term_years", "consent_version"}
AGREEMENT = ("id, resident_id, centre_id, window_id, team_id, doctor_id, region_code, cycle, start_date, end_date, "
             "term_years, term_end_date, status, channel, counts_for_capitation, terminated_on, termination_reason, "
             "secondary_hospital_id, tertiary_hospital_id")
AGREEMENT_KEYS = [name.strip() for name in AGREEMENT.split(",")]
DOCTOR_KEYS = ["id", "team_id", "name", "title", "speciality", "photo_url", "contact"]
VISIT_COLUMNS = ("resident_id, agreement_id, centre_id, team_id, programme, code, title, protocol_version, due_date, "
                 "on_time_from, on_time_until, modes, state, created_at, updated_at, rescheduled, referral")
VISIT_UPSERT = (" ON CONFLICT (resident_id, programme, code) DO UPDATE SET agreement_id = excluded.agreement_id,"
                " centre_id = excluded.centre_id, team_id = excluded.team_id, title = excluded.title,"
                " protocol_version = excluded.protocol_version, due_date = excluded.due_date,"
                " on_time_from = excluded.on_time_from, on_time_until = excluded.on_time_until, modes = excluded.modes,"
                " state = 'planned', updated_at = excluded.updated_at"
                " WHERE visits.state IN ('planned', 'cancelled') AND NOT visits.rescheduled")
AUDIT = ("INSERT INTO audit_events (at, actor, action, target_type, target_id, ip, request_id, outcome, detail) "
         "VALUES (%s, %s, %s, %s, NULL, %s, %s, 'ok', %s::json)")
# The team a signing puts the resident with (signing/doctors.py place_with_doctor, no team or window chosen): the
# one serving their village of household registration, else of residence, if it is the centre's; else the
# centre's first team with an active doctor. With it its lead doctor: its first active doctor member.
TEAM_AND_DOCTOR = (
    "SELECT t.id, t.name, m.id, m.team_id, m.name, m.title, m.speciality, m.photo_url, m.contact FROM teams t "
    "LEFT JOIN LATERAL (SELECT id, team_id, name, title, speciality, photo_url, contact FROM team_members "
    "WHERE team_id = t.id AND role = 'doctor' AND active ORDER BY id LIMIT 1) m ON true "
    "WHERE t.id = COALESCE((SELECT team_id FROM windows WHERE id = %(home)s AND centre_id = %(centre)s), "
    "(SELECT team_id FROM windows WHERE id = %(residence)s AND centre_id = %(centre)s), "
    "(SELECT min(ts.id) FROM teams ts JOIN team_members ms ON ms.team_id = ts.id "
    "WHERE ts.centre_id = %(centre)s AND ms.role = 'doctor' AND ms.active))")

# Sent by this process, for the benchmark's count per request: statements, and round trips (with BEGIN, COMMIT).
statements = round_trips = 0
_local = threading.local()  # .connection: this thread's


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    crypto.configure(settings)
    app = Flask(__name__)
    app.config.update(SETTINGS=settings,
                      CONNINFO=make_url(settings.DATABASE_URL).set(drivername="postgresql").render_as_string(False))
    app.errorhandler(Refused)(lambda refused: (jsonify(code=refused.status, message=refused.message), refused.status))
    app.add_url_rule("/bare", view_func=bare, methods=["GET", "POST"])
    app.add_url_rule("/api/v1/me/visits", view_func=my_visits, methods=["GET"])
    app.add_url_rule("/api/v1/agreements", view_func=sign, methods=["POST"])
    return app


def bare():
    request.get_data()
    return {"ok": True}


def _db(app_config) -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed or connection.broken:
        connection = _local.connection = psycopg.connect(app_config["CONNINFO"], autocommit=True)
    return connection


def disconnect() -> None:
    """Close this thread's connection (the benchmark's own process, after an in-process request)."""
    connection = getattr(_local, "connection", None)
    if connection is not None:
        connection.close()
        _local.connection = None


def _run(connection: psycopg.Connection, sql: str, params=()) -> psycopg.Cursor:
    global statements, round_trips
    statements += 1
    round_trips += 1
    return connection.execute(sql, params)


def _transaction(connection: psycopg.Connection):
    global round_trips
    round_trips += 2  # BEGIN and COMMIT (or ROLLBACK)
    return connection.transaction()


def _resident(db: psycopg.Connection, settings: Settings) -> tuple[str, str]:
    """The caller's subject and openid, checked as core.auth checks a resident's token: the token, then the live
    session it names (one primary-key read)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "A bearer token is required.")
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"],
                            options={"verify_iat": False, "verify_exp": False})
        expired = claims["exp"] <= clock.now().timestamp()
        session_id, subject = claims["sid"], claims["sub"]
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Refused(401, "The token is not valid.") from None
    if expired:
        raise Refused(401, "The token has expired.")
    session = _run(db, "SELECT subject, role, expires_at, revoked_at, ends_when_idle, password_change_required "
                       "FROM sessions WHERE id = %s", (session_id,)).fetchone()
    if session is None or session[0] != subject:
        raise Refused(401, "The token is not valid.")
    _, role, expires_at, revoked_at, ends_when_idle, password_change_required = session
    if revoked_at is not None or expires_at <= clock.now() or ends_when_idle:
        raise Refused(401, "The session has ended (the hand-written limit serves live resident sessions only).")
    if role != "resident":
        raise Refused(403, "This operation is not open to your role.")
    if password_change_required:
        raise Refused(403, "Set a new password first.")
    kind, _, openid = subject.partition(":")
    if kind != "wx" or not openid:
        raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
    return subject, openid


def _audit(subject: str, action: str, target_type: str, detail: dict | None) -> tuple:
    """The parameters of AUDIT: the event core/audit.py records for an answered view."""
    return (clock.now(), subject, action, target_type, request.remote_addr, uuid.uuid4().hex,
            json.dumps(detail))  # no detail: JSON null, as the ORM's JSON column stores None


def my_visits():
    """The follow-up visits of the caller and their household, as GET /api/v1/me/visits gives them."""
    db = _db(current_app.config)
    subject, openid = _resident(db, current_app.config["SETTINGS"])
    me = _run(db, "SELECT id, household_id FROM residents WHERE openid = %s", (openid,)).fetchone()
    if me is None:
        raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
    members = ("SELECT id FROM residents WHERE household_id = %(household)s" if me[1] is not None
               else "SELECT %(me)s")
    visits = _run(db, "SELECT v.id, v.resident_id, r.name, v.programme, v.code, v.title, v.due_date, v.on_time_from, "
                      "v.on_time_until, v.state, v.centre_id, v.team_id, v.served_on, v.timeliness, v.referral, v.modes "
                      f"FROM visits v JOIN residents r ON r.id = v.resident_id WHERE v.resident_id IN ({members}) "
                      "AND v.state <> 'cancelled' ORDER BY v.due_date, v.id",
                  {"household": me[1], "me": me[0]}).fetchall()
    today = clock.today()
    answer = {"items": [_visit(visit, today) for visit in visits], "next_cursor": None}
    _run(db, AUDIT, _audit(subject, "visit.list", "visit", None))
    return jsonify(answer)


def _visit(row: tuple, today: date) -> dict:
    (visit_id, resident_id, name, programme, code, title, due, start, end, state, centre_id, team_id, served_on,
     timeliness, referral, modes) = row
    planned = state == "planned"
    status = ("upcoming" if today < start else "due" if today <= end else "overdue") if planned else state
    return {"id": visit_id, "resident_id": resident_id, "resident_name": name, "programme": programme, "code": code,
            "title": title, "due_date": due.isoformat(), "on_time_from": start.isoformat(),
            "on_time_until": end.isoformat(), "state": state, "status": status,
            "days_overdue": max((today - end).days, 0) if planned else 0, "centre_id": centre_id, "team_id": team_id,
            "served_on": served_on and served_on.isoformat(), "timeliness": timeliness, "referral": referral,
            "modes": modes}


def _pooling(db: psycopg.Connection, code: str | None) -> tuple[str, tuple] | None:
    """The nearest region at or above `code` with a policy profile, and the profile's term, cycle start and
    village-clinic rule."""
    while code:
        row = _run(db, "SELECT r.parent_code, r.profile_code, p.max_term_years, p.cycle_start_month, p.cycle_start_day, "
                       "p.requires_village_clinic FROM regions r LEFT JOIN policy_profiles p ON p.code = r.profile_code "
                       "WHERE r.code = %s", (code,)).fetchone()
        if row is None:
            return None
        if row[1] is not None:
            return code, row[2:]
        code = row[0]
    return None


def _agreement_json(row: tuple, team_name: str | None, doctor: dict | None) -> dict:
    answer = {key: value.isoformat() if isinstance(value, date) else value
              for key, value in zip(AGREEMENT_KEYS, row, strict=True)}
    return {**answer, "team_name": team_name, "doctor": doctor}


def _health_facts(db: psycopg.Connection, resident_id: int, birth_date: date) -> HealthFacts:
    """What registry.populations.facts_of reads (conditions, pregnancies, recorded tags), in one statement."""
    facts = HealthFacts(birth_date=birth_date)
    for source, kind, recorded_on, pregnancy_id, last_period, expected, delivered in _run(
            db, "SELECT 1, kind, recorded_on, NULL::int, NULL::date, NULL::date, NULL::date FROM conditions "
                "WHERE resident_id = %(r)s UNION ALL SELECT 2, NULL, registered_on, id, last_menstrual_period, "
                "expected_delivery, delivered_on FROM pregnancies WHERE resident_id = %(r)s "
                "UNION ALL SELECT 3, tag, recorded_on, NULL, NULL, NULL, NULL FROM population_tags "
                "WHERE resident_id = %(r)s ORDER BY 1, 4",
            {"r": resident_id}):
        if source == 1:
            facts.conditions.append(SimpleNamespace(kind=ConditionKind(kind), recorded_on=recorded_on))
        elif source == 2:
            facts.pregnancies.append(SimpleNamespace(id=pregnancy_id, registered_on=recorded_on, last_menstrual_period=last_period,
                                                     expected_delivery=expected, delivered_on=delivered))
        else:
            facts.tags.append(kind)
    return facts


def sign():
    """An adult resident signs themself with a centre for the current cycle, as POST /api/v1/agreements does."""
    settings = current_app.config["SETTINGS"]
    db = _db(current_app.config)
    subject, openid = _resident(db, settings)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not {"centre_id", "term_years", "consent_version"} <= set(body) <= SIGN_FIELDS:
        raise Refused(422, f"The hand-written limit signs with {sorted(SIGN_FIELDS)} only.")
    centre_id, term_years, consent_version = body["centre_id"], body["term_years"], body["consent_version"]
    if not isinstance(centre_id, int) or not isinstance(term_years, int) or not isinstance(consent_version, str):
        raise Refused(422, "centre_id and term_years are integers, consent_version a string.")
    today, now = clock.today(), clock.now()
    with _transaction(db):
        centre = _run(db, "SELECT c.takes_part, c.region_code, r.parent_code, r.profile_code, p.max_term_years, "
                          "p.cycle_start_month, p.cycle_start_day, p.requires_village_clinic FROM centres c "
                          "JOIN regions r ON r.code = c.region_code "
                          "LEFT JOIN policy_profiles p ON p.code = r.profile_code WHERE c.id = %s", (centre_id,)).fetchone()
        if centre is None:
            raise Refused(422, "No such centre.")
        if not centre[0]:
            raise Refused(422, "This institution does not take part in family-doctor signing.")
        region_code = centre[1]
        pooling = (region_code, centre[4:]) if centre[3] is not None else _pooling(db, centre[2])
        if pooling is None:
            raise Refused(422, f"Region {region_code} has no policy profile.")
        pooling_code, (max_term, start_month, start_day, requires_village_clinic) = pooling
        if not 1 <= term_years <= max_term:
            raise Refused(422, f"The term is 1 to {max_term} years in this region.")
        if consent_version != settings.CONSENT_TEXT_VERSION:
            raise Refused(422, "Consent to the current consent text is required.")
        if requires_village_clinic:
            raise Refused(422, "The hand-written limit signs where no village clinic must be named.")
        profile = SimpleNamespace(cycle_start_month=start_month, cycle_start_day=start_day)
        cycle = cycles.cycle_of(profile, today)
        cycle_start, cycle_end = cycles.cycle_bounds(profile, cycle)
        _, term_end = cycles.cycle_bounds(profile, cycle + term_years - 1)

        me = _run(db, "SELECT id, birth_date, insurance_scheme, insurance_region_code, verified_at IS NOT NULL, died_on, "
                      "home_window_id, residence_window_id FROM residents WHERE openid = %s FOR UPDATE",
                  (openid,)).fetchone()
        if me is None:
            raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
        resident_id, birth_date, scheme, insured_in, verified, died_on, home_window, residence_window = me
        if died_on is not None:
            raise Refused(409, "The resident's death was recorded: nobody dead is signed.")
        if age_on(birth_date, today) < 14:
            raise Refused(422, "The hand-written limit signs adults only (a child needs a guardian).")
        # One read for both rules: an agreement holding this cycle, or one that ended in it (signing/service.py).
        for held_centre, status in _run(
                db, "SELECT centre_id, status FROM agreements WHERE resident_id = %s AND cycle = %s AND "
                    "(status = ANY(%s) OR (status = 'terminated' AND terminated_on > start_date)) "
                    "ORDER BY status = 'terminated', id DESC", (resident_id, cycle, HOLDING)):
            if status != "terminated":
                if held_centre != centre_id:
                    raise Refused(409, "Already signed with another centre in this cycle; the centre can change from "
                                       "the next cycle.")
                raise Refused(422, "The hand-written limit signs residents not yet signed this cycle.")
            if held_centre != centre_id:
                raise Refused(409, "The centre cannot change within a cycle.")
            break
        placed = _run(db, TEAM_AND_DOCTOR, {"home": home_window, "residence": residence_window,
                                            "centre": centre_id}).fetchone()
        if placed is None or placed[2] is None:
            raise Refused(409, "The basic package promises a named family doctor: this team has no doctor yet.")
        team_id, team_name, doctor = placed[0], placed[1], dict(zip(DOCTOR_KEYS, placed[2:], strict=True))
        counts = verified and scheme != "uninsured" and insured_in is not None and (
            insured_in == region_code or (_pooling(db, insured_in) or ("",))[0] == pooling_code)

        facts = _health_facts(db, resident_id, birth_date)
        plan = schedule.resident_plan(facts, signed_on=today, cycle=cycle, cycle_start=cycle_start, cycle_end=cycle_end)
        visits = ""
        params: list = [resident_id, centre_id, team_id, doctor["id"], region_code, cycle, today, cycle_end, term_years,
                        term_end, counts, subject, now, now,
                        resident_id, consent_version, subject, now,
                        catalogue.EDITION, today, subject, MANDATORY]
        if plan:
            rows = ", ".join(["(%s, %s, %s, %s, %s, %s::date, %s::date, %s::date, %s::json)"] * len(plan))
            visits = (f", v AS (INSERT INTO visits ({VISIT_COLUMNS}) SELECT %s, a.id, %s, %s, p.programme, p.code, "
                      f"p.title, p.protocol_version, p.due_date, p.on_time_from, p.on_time_until, p.modes, 'planned', %s, "
                      f"%s, false, false FROM a CROSS JOIN (VALUES {rows}) AS p(n, programme, code, title, "
                      f"protocol_version, due_date, on_time_from, on_time_until, modes) ORDER BY p.n{VISIT_UPSERT})")
            params += [resident_id, centre_id, team_id, now, now]
            params += [value for n, visit in enumerate(plan) for value in (
                n, visit.programme, visit.code, visit.title, visit.protocol_version, visit.due_date, visit.on_time_from,
                visit.on_time_until, json.dumps(list(visit.modes)))]
        params += _audit(subject, "agreement.sign", "agreement", {"fields": sorted(body)})
        agreement = _run(db, (
            "WITH a AS (INSERT INTO agreements (resident_id, centre_id, team_id, doctor_id, region_code, cycle, start_date, "
            "end_date, term_years, term_end_date, status, channel, counts_for_capitation, signed_by, basis, created_at, "
            f"updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'active', 'online', %s, %s, 'self', %s, %s) "
            f"RETURNING {AGREEMENT}), "
            "c AS (INSERT INTO consents (resident_id, agreement_id, text_version, recorded_by, consented_at) "
            "SELECT %s, a.id, %s, %s, %s FROM a), "
            "k AS (INSERT INTO agreement_packages (agreement_id, edition, package_code, price_fen, added_on, added_by) "
            "SELECT a.id, %s, m.code, 0, %s, %s FROM a CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS m(code, n) "
            f"ORDER BY m.n){visits}, e AS ({AUDIT}) SELECT * FROM a"), params).fetchone()
    return jsonify(items=[_agreement_json(agreement, team_name, doctor)], next_cursor=None), 201
