"""Logging in and knowing who people are: WeChat login, identity binding, staff and bureau logins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import clock, crypto, db, lockout
from core.auth import DUMMY_HASH, Actor, Role, issue_token, verify_secret
from core.errors import Conflict, Forbidden, Invalid, Unauthorized
from core.wechat import WechatClient
from registry.access import resident_of
from registry.idcard import IdNumber, InvalidIdNumber, parse_id_number
from registry.models import ApiClient, Household, InsuranceScheme, Resident, Staff


def wechat_login(*, code: str) -> dict:
    """Exchange a mini-program login code for our bearer token (WeChat code2Session)."""
    openid = WechatClient.from_app().code_to_session(code).openid
    bound = db.session.scalar(select(Resident.id).where(Resident.openid == openid)) is not None
    return {**issue_token(Actor(role=Role.RESIDENT, subject=f"wx:{openid}")), "identity_bound": bound}


def _holds(account, secret_hash: str | None, secret: str) -> bool:
    """The account exists, is active and the secret matches; an unknown account costs the same hash time."""
    if account is None:
        verify_secret(DUMMY_HASH, secret)
        return False
    return verify_secret(secret_hash, secret) and account.active


def staff_login(*, username: str, password: str) -> dict:
    """Log a doctor, centre admin or bureau user in with username and password."""
    lockout.refuse_if_locked(username)
    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    if not _holds(staff, staff and staff.password_hash, password):
        lockout.record_failure(username)
        raise Unauthorized("Wrong username or password.")
    lockout.record_success(username)
    if staff.must_change_password:  # set by an administrator: the first login replaces the one-time password
        raise Forbidden("Set a new password first: POST /api/v1/auth/password.", reason="password_change_required")
    actor = Actor(
        role=Role(staff.role.value),
        subject=f"staff:{staff.id}",
        centre_id=staff.centre_id,
        team_id=staff.team_id,
        region_code=staff.region_code,
    )
    return issue_token(actor)


def client_token(*, client_id: str, client_secret: str) -> dict:
    """Give a bureau system a token for its pooling region (OAuth2 client credentials)."""
    client = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if not _holds(client, client and client.secret_hash, client_secret):
        raise Unauthorized("Unknown client or wrong secret.")
    return issue_token(Actor(role=Role.BUREAU, subject=f"client:{client.client_id}", region_code=client.region_code))


def parse_or_reject(id_number: str) -> IdNumber:
    try:
        return parse_id_number(id_number, today=clock.today())
    except InvalidIdNumber as error:
        raise Invalid(str(error), field="id_number") from None


def find_by_id_number(id_number: str) -> Resident | None:
    return db.session.scalar(select(Resident).where(Resident.id_number_hash == crypto.lookup_hash(id_number)))


def new_resident(*, name: str, parsed: IdNumber, phone: str | None, household: Household, **fields) -> Resident:
    resident = Resident(
        name=name,
        id_number=parsed.value,
        id_number_hash=crypto.lookup_hash(parsed.value),
        phone=phone,
        phone_hash=crypto.lookup_hash(phone) if phone else None,
        birth_date=parsed.birth_date,
        sex=parsed.sex,
        household=household,
        **fields,
    )
    db.session.add(resident)
    return resident


def _check_same_person(resident: Resident, name: str) -> None:
    if resident.name != name:
        raise Invalid("The name does not match the record held for this ID number.", field="name")


def bind_identity(actor: Actor, *, name: str, id_number: str, phone: str) -> Resident:
    """Bind the caller's openid to the resident with this ID number, registering them if new.

    One ID number binds to one openid and one openid to one ID number; both are unique indexes,
    so two phones racing to bind the same person end in one 409.
    """
    parsed = parse_or_reject(id_number)
    with db.transaction():
        mine = db.session.scalar(select(Resident).where(Resident.openid == actor.openid))
        if mine is not None and mine.id_number != parsed.value:
            raise Conflict("This WeChat account is bound to another ID number.")
        resident = mine or find_by_id_number(parsed.value)
        if resident is None:
            resident = new_resident(name=name, parsed=parsed, phone=phone, household=Household(), openid=actor.openid)
        elif resident.openid not in (None, actor.openid):
            raise Conflict("This ID number is bound to another WeChat account.", field="id_number")
        else:
            _check_same_person(resident, name)
            resident.openid = actor.openid
            resident.phone, resident.phone_hash = phone, crypto.lookup_hash(phone)
        _flush_or_conflict("This ID number is bound to another WeChat account.")
    return resident


def add_household_member(actor: Actor, *, name: str, id_number: str, phone: str | None) -> Resident:
    """Register a family member (a child, an elderly parent) in the caller's household."""
    me = resident_of(actor)
    parsed = parse_or_reject(id_number)
    with db.transaction():
        if me.household is None:
            me.household = Household()
        existing = find_by_id_number(parsed.value)
        if existing is not None:
            _check_same_person(existing, name)
            if existing.household_id not in (None, me.household_id):
                raise Conflict("This person belongs to another household; the centre can move them.", field="id_number")
            existing.household = me.household
            return existing
        member = new_resident(name=name, parsed=parsed, phone=phone, household=me.household)
        _flush_or_conflict("This person was registered at the same moment; try again.")
    return member


def register_on_site(
    actor: Actor, *, name: str, id_number: str, phone: str | None, insurance_scheme: InsuranceScheme, insurance_region_code: str | None
) -> tuple[Resident, bool]:
    """Register a resident who came to the centre, or find them if already known (name must match)."""
    parsed = parse_or_reject(id_number)
    with db.transaction():
        existing = find_by_id_number(parsed.value)
        if existing is not None:
            _check_same_person(existing, name)
            return existing, False
        resident = new_resident(
            name=name,
            parsed=parsed,
            phone=phone,
            household=Household(),
            insurance_scheme=insurance_scheme,
            insurance_region_code=insurance_region_code,
            registered_by_centre_id=actor.centre_id,
        )
        _flush_or_conflict("This person was registered at the same moment; try again.")
    return resident, True


def _flush_or_conflict(message: str) -> None:
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None
