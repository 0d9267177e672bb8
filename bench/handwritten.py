"""The limits of the HTTP scenarios: the same work as ours, written by hand.

A small Flask app served by the same gunicorn (through bench.serve, `bench.handwritten:create_app()`),
with one psycopg connection per worker (a sync worker serves one request at a time) and neither ORM
nor schemas:

- GET /api/v1/me/visits: the bearer token checked as core.auth checks it (PyJWT, the same key), then
  the statements the ORM path sends — the resident by openid, the household, its members, their
  visits — and the same JSON.
- POST /api/v1/agreements: the signing the benchmark sends (an adult resident signing themself with a
  centre, no personalised packages; anything else is a 422 here). One transaction: the centre with its
  region and policy profile, the resident, the one-agreement-per-cycle check, the health facts the plan
  needs, then the rows a signing writes — the agreement, its consent, its mandatory packages and its
  follow-up visits — and the same JSON. Cycles and the plan come from the same pure functions.
- GET|POST /bare: a constant; the ceiling of gunicorn + Flask on this machine.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import jwt
import psycopg
from flask import Flask, current_app, jsonify, request
from sqlalchemy.engine import make_url

from care import schedule
from core import clock, crypto
from core.config import Settings
from core.crypto import mask_id_number
from packages import catalogue
from registry.idcard import age_on
from registry.models import ConditionKind
from registry.populations import HealthFacts
from signing import cycles

HOLDING = ["pending", "active", "change_pending"]
MANDATORY = [package.code for package in catalogue.PACKAGES_2025 if package.tier in catalogue.MANDATORY_TIERS]
SIGN_FIELDS = {"centre_id", "term_years", "consent_version"}
AGREEMENT = ("id, resident_id, centre_id, window_id, team_id, region_code, cycle, start_date, end_date, term_years, "
             "term_end_date, status, channel, counts_for_capitation, terminated_on, termination_reason")
AGREEMENT_KEYS = [name.strip() for name in AGREEMENT.split(",")]
VISIT_COLUMNS = ("resident_id, agreement_id, centre_id, team_id, programme, code, title, protocol_version, due_date, "
                 "on_time_from, on_time_until, state, created_at, updated_at, rescheduled, referral")
VISIT_UPSERT = (" ON CONFLICT (resident_id, programme, code) DO UPDATE SET agreement_id = excluded.agreement_id,"
                " centre_id = excluded.centre_id, team_id = excluded.team_id, title = excluded.title,"
                " protocol_version = excluded.protocol_version, due_date = excluded.due_date,"
                " on_time_from = excluded.on_time_from, on_time_until = excluded.on_time_until, state = 'planned',"
                " updated_at = excluded.updated_at"
                " WHERE visits.state IN ('planned', 'cancelled') AND NOT visits.rescheduled")

# Sent by this process, for the benchmark's count per request: statements, and round trips (with BEGIN, COMMIT).
statements = round_trips = 0
_connection: psycopg.Connection | None = None


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
    global _connection
    if _connection is None or _connection.closed or _connection.broken:
        _connection = psycopg.connect(app_config["CONNINFO"], autocommit=True)
    return _connection


def disconnect() -> None:
    """Close this process's connection (the benchmark's own process, after an in-process request)."""
    global _connection
    if _connection is not None:
        _connection.close()
        _connection = None


def _run(connection: psycopg.Connection, sql: str, params=()) -> psycopg.Cursor:
    global statements, round_trips
    statements += 1
    round_trips += 1
    return connection.execute(sql, params)


def _transaction(connection: psycopg.Connection):
    global round_trips
    round_trips += 2  # BEGIN and COMMIT (or ROLLBACK)
    return connection.transaction()


def _resident(settings: Settings) -> tuple[str, str]:
    """The caller's subject and openid, checked as core.auth checks a resident's token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "A bearer token is required.")
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"],
                            options={"verify_iat": False, "verify_exp": False})
        expired = claims["exp"] <= clock.now().timestamp()
        role, subject = claims["role"], claims["sub"]
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Refused(401, "The token is not valid.") from None
    if expired:
        raise Refused(401, "The token has expired.")
    if role != "resident":
        raise Refused(403, "This operation is not open to your role.")
    kind, _, openid = subject.partition(":")
    if kind != "wx" or not openid:
        raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
    return subject, openid


def my_visits():
    """The follow-up visits of the caller and their household, as GET /api/v1/me/visits gives them."""
    _, openid = _resident(current_app.config["SETTINGS"])
    db = _db(current_app.config)
    me = _run(db, "SELECT id, household_id, name, id_number FROM residents WHERE openid = %s", (openid,)).fetchone()
    if me is None:
        raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
    members = [me]
    if me[1] is not None:
        household = _run(db, "SELECT id FROM households WHERE id = %s", (me[1],)).fetchone()
        if household is not None:
            members = _run(db, "SELECT id, household_id, name, id_number FROM residents WHERE household_id = %s "
                               "ORDER BY id", (household[0],)).fetchall()
    people = {member[0]: (member[2], mask_id_number(crypto.decrypt(member[3], "residents.id_number"))) for member in members}
    visits = _run(db, "SELECT id, resident_id, programme, code, title, due_date, on_time_from, on_time_until, state, "
                      "centre_id, team_id, served_on, timeliness, referral FROM visits "
                      "WHERE resident_id = ANY(%s) AND state <> 'cancelled' ORDER BY due_date, id",
                  (list(people),)).fetchall()
    today = clock.today()
    return jsonify(visits=[_visit(visit, people, today) for visit in visits])


def _visit(row: tuple, people: dict[int, tuple[str, str]], today: date) -> dict:
    (visit_id, resident_id, programme, code, title, due, start, end, state, centre_id, team_id, served_on, timeliness,
     referral) = row
    name, id_number = people[resident_id]
    planned = state == "planned"
    status = ("upcoming" if today < start else "due" if today <= end else "overdue") if planned else state
    return {"id": visit_id, "resident_id": resident_id, "resident_name": name, "resident_id_number": id_number,
            "programme": programme, "code": code, "title": title, "due_date": due.isoformat(),
            "on_time_from": start.isoformat(), "on_time_until": end.isoformat(), "state": state, "status": status,
            "days_overdue": max((today - end).days, 0) if planned else 0, "centre_id": centre_id, "team_id": team_id,
            "served_on": served_on and served_on.isoformat(), "timeliness": timeliness, "referral": referral}


def _pooling(db: psycopg.Connection, code: str | None) -> tuple[str, tuple] | None:
    """The nearest region at or above `code` with a policy profile, and the profile's term and cycle start."""
    while code:
        row = _run(db, "SELECT r.parent_code, r.profile_code, p.max_term_years, p.cycle_start_month, p.cycle_start_day "
                       "FROM regions r LEFT JOIN policy_profiles p ON p.code = r.profile_code WHERE r.code = %s",
                   (code,)).fetchone()
        if row is None:
            return None
        if row[1] is not None:
            return code, row[2:]
        code = row[0]
    return None


def _agreement_json(row: tuple) -> dict:
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in zip(AGREEMENT_KEYS, row, strict=True)}


def sign():
    """An adult resident signs themself with a centre for the current cycle, as POST /api/v1/agreements does."""
    settings = current_app.config["SETTINGS"]
    subject, openid = _resident(settings)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not {"centre_id", "term_years", "consent_version"} <= set(body) <= SIGN_FIELDS:
        raise Refused(422, f"The hand-written limit signs with {sorted(SIGN_FIELDS)} only.")
    centre_id, term_years, consent_version = body["centre_id"], body["term_years"], body["consent_version"]
    if not isinstance(centre_id, int) or not isinstance(term_years, int) or not isinstance(consent_version, str):
        raise Refused(422, "centre_id and term_years are integers, consent_version a string.")
    today, now = clock.today(), clock.now()
    db = _db(current_app.config)
    with _transaction(db):
        centre = _run(db, "SELECT c.takes_part, c.region_code, r.parent_code, r.profile_code, p.max_term_years, "
                          "p.cycle_start_month, p.cycle_start_day FROM centres c JOIN regions r ON r.code = c.region_code "
                          "LEFT JOIN policy_profiles p ON p.code = r.profile_code WHERE c.id = %s", (centre_id,)).fetchone()
        if centre is None:
            raise Refused(422, "No such centre.")
        if not centre[0]:
            raise Refused(422, "This institution does not take part in family-doctor signing.")
        region_code = centre[1]
        pooling = (region_code, centre[4:]) if centre[3] is not None else _pooling(db, centre[2])
        if pooling is None:
            raise Refused(422, f"Region {region_code} has no policy profile.")
        pooling_code, (max_term, start_month, start_day) = pooling
        if not 1 <= term_years <= max_term:
            raise Refused(422, f"The term is 1 to {max_term} years in this region.")
        if consent_version != settings.CONSENT_TEXT_VERSION:
            raise Refused(422, "Consent to the current consent text is required.")
        profile = SimpleNamespace(cycle_start_month=start_month, cycle_start_day=start_day)
        cycle = cycles.cycle_of(profile, today)
        cycle_start, cycle_end = cycles.cycle_bounds(profile, cycle)
        _, term_end = cycles.cycle_bounds(profile, cycle + term_years - 1)

        me = _run(db, "SELECT id, birth_date, insurance_scheme, insurance_region_code FROM residents WHERE openid = %s",
                  (openid,)).fetchone()
        if me is None:
            raise Refused(403, "Bind your identity first (POST /api/v1/me/identity).")
        resident_id, birth_date, scheme, insured_in = me
        if age_on(birth_date, today) < 14:
            raise Refused(422, "The hand-written limit signs adults only (a child needs a guardian).")
        existing = _run(db, f"SELECT {AGREEMENT} FROM agreements WHERE resident_id = %s AND cycle = %s AND status = ANY(%s)",
                        (resident_id, cycle, HOLDING)).fetchone()
        if existing is not None:
            if existing[2] != centre_id:
                raise Refused(409, "Already signed with another centre in this cycle; the centre can change from the next cycle.")
            return jsonify(agreements=[_agreement_json(existing)]), 200
        counts = scheme != "uninsured" and insured_in is not None and (
            insured_in == region_code or (_pooling(db, insured_in) or ("",))[0] == pooling_code)

        facts = HealthFacts(birth_date=birth_date)
        for kind, recorded_on, pregnancy_id, last_period, expected, delivered in _run(
                db, "SELECT kind, recorded_on, NULL::int, NULL::date, NULL::date, NULL::date FROM conditions "
                    "WHERE resident_id = %(r)s UNION ALL SELECT NULL, registered_on, id, last_menstrual_period, "
                    "expected_delivery, delivered_on FROM pregnancies WHERE resident_id = %(r)s ORDER BY 3, 1",
                {"r": resident_id}):
            if kind is not None:
                facts.conditions.append(SimpleNamespace(kind=ConditionKind(kind), recorded_on=recorded_on))
            else:
                facts.pregnancies.append(SimpleNamespace(id=pregnancy_id, registered_on=recorded_on, last_menstrual_period=last_period,
                                                         expected_delivery=expected, delivered_on=delivered))

        agreement = _run(db, f"INSERT INTO agreements (resident_id, centre_id, region_code, cycle, start_date, end_date, "
                             f"term_years, term_end_date, status, channel, counts_for_capitation, signed_by, created_at, "
                             f"updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'active', 'online', %s, %s, %s, %s) "
                             f"RETURNING {AGREEMENT}",
                         (resident_id, centre_id, region_code, cycle, today, cycle_end, term_years, term_end, counts, subject,
                          now, now)).fetchone()
        agreement_id = agreement[0]
        _run(db, "INSERT INTO consents (resident_id, agreement_id, text_version, recorded_by, consented_at) "
                 "VALUES (%s, %s, %s, %s, %s)", (resident_id, agreement_id, consent_version, subject, now))
        _run(db, "INSERT INTO agreement_packages (agreement_id, edition, package_code, price_fen, added_on, added_by) "
                 "SELECT %s, %s, code, 0, %s, %s FROM unnest(%s::text[]) WITH ORDINALITY AS m(code, n) ORDER BY n",
             (agreement_id, catalogue.EDITION, today, subject, MANDATORY))
        plan = schedule.resident_plan(facts, signed_on=today, cycle=cycle, cycle_start=cycle_start, cycle_end=cycle_end)
        if plan:
            values = ", ".join(["(%s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, 'planned', %s, %s, false, false)"] * len(plan))
            params = [value for visit in plan for value in (
                resident_id, agreement_id, centre_id, visit.programme, visit.code, visit.title, visit.protocol_version,
                visit.due_date, visit.on_time_from, visit.on_time_until, now, now)]
            _run(db, f"INSERT INTO visits ({VISIT_COLUMNS}) VALUES {values}{VISIT_UPSERT}", params)
    return jsonify(agreements=[_agreement_json(agreement)]), 201
