"""Logging in and knowing who people are: WeChat login, identity binding, on-site registration, staff
and bureau logins. The proofs themselves (codes, on-site checks) are registry.proofs."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from core import audit, auth, clock, crypto, db, lockout, sessions
from core.auth import DUMMY_HASH, Actor, Role, issue_token, verify_secret
from core.errors import Conflict, DomainError, Forbidden, Invalid, TooManyRequests, Unauthorized
from core.wechat import WechatClient
from registry import access, events, proofs
from registry.idcard import IdNumber, InvalidIdNumber, parse_id_number
from registry.models import (
    ApiClient,
    BindingProof,
    CodePurpose,
    Household,
    IdentityDocument,
    InsuranceScheme,
    Region,
    Resident,
    Staff,
    Window,
)

PROOF_NEEDED = (
    "Binding this identity to your WeChat account needs proof: let WeChat confirm the phone number "
    "on file (phone_code, from the phone-number button), or enter the binding code your health "
    "centre gives you after checking your ID card on site (binding_code)."
)
PRESENCE_NEEDED = (
    "Staff register and find people of their centre's service area or present on site: record the "
    "on-site check of the identity document (identity_document), ask for the presence code of the "
    "person's own mini-program (presence_code), or, for a new person, give the village clinic of "
    "your centre where they live (home_window_id)."
)


@event.listens_for(Staff, "after_delete")
@event.listens_for(ApiClient, "after_delete")
def _deleted_account_is_logged_out(_mapper, connection, row) -> None:
    """A deleted staff account or bureau client loses its sessions in the same transaction."""
    subject = f"staff:{row.id}" if isinstance(row, Staff) else f"client:{row.client_id}"
    sessions.revoke_subject(subject, reason="account_deleted", connection=connection)


def wechat_login(*, code: str) -> dict:
    """Exchange a mini-program login code for our tokens (WeChat code2Session); audited as a login."""
    try:
        openid = WechatClient.from_app().code_to_session(code).openid
    except DomainError as refused:
        audit.record("auth.login", "wechat_account", None, outcome=f"refused_{refused.status}", method="wechat")
        raise
    resident_id = db.session.scalar(select(Resident.id).where(Resident.openid == openid))
    tokens = issue_token(Actor(role=Role.RESIDENT, subject=f"wx:{openid}"))
    if resident_id is not None:
        audit.record("auth.login", "resident", resident_id, method="wechat")
    else:
        audit.record("auth.login", "wechat_account", crypto.pseudonym(openid), method="wechat")
    return {**tokens, "identity_bound": resident_id is not None}


def refresh(*, refresh_token: str) -> dict:
    """Spend a refresh token for new tokens; a reused one ends its session, which is audited."""
    try:
        return auth.refresh(refresh_token)
    except Unauthorized as refused:
        if refused.details.get("reason") == "refresh_reused":
            subject = refused.details.pop("subject")
            audit.record("auth.refresh_reused", "session", subject, outcome="refused_401")
        raise


def _holds(account, secret_hash: str | None, secret: str) -> bool:
    """The account exists, is active and the secret matches; an unknown account costs the same hash time."""
    if account is None:
        verify_secret(DUMMY_HASH, secret)
        return False
    return verify_secret(secret_hash, secret) and account.active


def _login_refused(kind: str, name: str, known, refusal: DomainError) -> DomainError:
    """Audit a refused login — the name given only when such an account exists, a pseudonym otherwise, never
    the secret — and hand back the refusal to raise."""
    target = name if known is not None else crypto.pseudonym(f"{kind}:{name}")
    audit.record("auth.login", f"{kind}_account", target, outcome=f"refused_{refusal.status}",
                 known=known is not None, reason=refusal.details.get("reason", "wrong_secret"))
    return refusal


def _checked_secret(kind: str, name: str, account, secret_hash: str | None, secret: str) -> None:
    """Refuse a locked or wrong login, counting the failure against the account and this address (core.lockout)."""
    lock_name = f"{kind}:{name}"
    try:
        lockout.refuse_if_locked(lock_name)
    except TooManyRequests as locked:
        raise _login_refused(kind, name, account, locked) from None
    if not _holds(account, secret_hash, secret):
        for scope in lockout.record_failure(lock_name):
            audit.record(f"{kind}.login_locked", f"{kind}_account",
                         name if account is not None else crypto.pseudonym(lock_name), outcome="locked", scope=scope)
        raise _login_refused(kind, name, account, Unauthorized(
            "Wrong username or password." if kind == "staff" else "Unknown client or wrong secret."))
    lockout.record_success(lock_name)


def staff_login(*, username: str, password: str) -> dict:
    """Log a doctor, centre admin or bureau user in with username and password.

    An account whose password an administrator set (a one-time password) gets a session that only
    changes the password: every other route answers 403 password_change_required until it is replaced.
    """
    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    _checked_secret("staff", username, staff, staff and staff.password_hash, password)
    actor = Actor(
        role=staff.role,
        subject=f"staff:{staff.id}",
        centre_id=staff.centre_id,
        team_id=staff.team_id,
        region_code=staff.region_code,
    )
    tokens = issue_token(actor, password_change_required=staff.must_change_password)
    audit.record("auth.login", "staff", staff.id, method="password",
                 password_change_required=staff.must_change_password)
    return tokens


def client_token(*, client_id: str, client_secret: str) -> dict:
    """Give a bureau system a token for its pooling region (OAuth2 client credentials), locked out like a password."""
    client = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    _checked_secret("client", client_id, client, client and client.secret_hash, client_secret)
    tokens = issue_token(Actor(role=Role.BUREAU, subject=f"client:{client.client_id}", region_code=client.region_code))
    audit.record("auth.login", "api_client", client.id, method="client_credentials")
    return tokens


def parse_or_reject(id_number: str) -> IdNumber:
    try:
        return parse_id_number(id_number, today=clock.today())
    except InvalidIdNumber as error:
        raise Invalid(str(error), field="id_number") from None


def find_by_id_number(id_number: str) -> Resident | None:
    return db.session.scalar(select(Resident).where(Resident.id_number_hash == crypto.lookup_hash(id_number)))


def bound_to(openid: str | None) -> Resident | None:
    return db.session.scalar(select(Resident).where(Resident.openid == openid)) if openid else None


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


def bind_identity(actor: Actor, *, name: str, id_number: str, phone_code: str | None = None,
                  binding_code: str | None = None) -> Resident:
    """Bind the caller's WeChat account to a person (POLICY.md signing rule 10: a name and an ID number prove nothing).

    - A binding code from an on-site check binds the account to its person, replacing an account
      bound before (a new phone, a new account).
    - A phone number WeChat verified for the account (phone_code) binds it to a verified person
      without an account whose number on file it is.
    - An ID number nobody registered is a self-registration: a new record, unverified (it does not
      count for capitation until checked on site) and reaching nobody else's data.
    Every other attempt on an existing record gets the same 403, whatever the reason (another name,
    another account, another household, another phone), so the answer does not say why. One ID
    number binds to one account and one account to one ID number (unique indexes): a race ends in 409.
    """
    parsed = parse_or_reject(id_number)
    name = name.strip()
    mine, registered = bound_to(actor.openid), False
    if mine is not None and mine.id_number != parsed.value:
        raise Conflict("This WeChat account is bound to another person.", field="id_number")
    phone = WechatClient.from_app().phone_number(phone_code) if phone_code else None
    with db.transaction():
        if binding_code:
            resident, proof = _redeem_binding_code(binding_code, parsed, name), BindingProof.BINDING_CODE
        elif mine is not None:
            if mine.name != name:
                raise Invalid("The name does not match your record.", field="name")
            resident, proof = mine, None
        else:
            resident = find_by_id_number(parsed.value)
            if resident is None:
                resident, proof = new_resident(name=name, parsed=parsed, phone=None, household=Household(),
                                               openid=actor.openid), None
                registered = True
            elif phone and _phone_proves(resident, name, phone):
                proof = BindingProof.WECHAT_PHONE
            else:
                raise Forbidden(PROOF_NEEDED, reason="proof_required", proofs=["phone_code", "binding_code"])
        replaced = resident.openid not in (None, actor.openid)
        if proof is not None:
            resident.openid, resident.binding_proof = actor.openid, proof
        if phone:  # WeChat verified it for this account: the account's holder's number
            resident.phone, resident.phone_hash = phone, crypto.lookup_hash(phone)
        flush_or_conflict("This ID number is bound to another WeChat account.")
        if registered:
            events.id_number_registered.send(None, resident_ids=[resident.id])
    if replaced:
        audit.record("identity.unbind", "resident", resident.id, reason="rebound_with_proof")
    audit.record("identity.bind", "resident", resident.id,
                 proof=proof.value if proof else ("already_bound" if mine else "self_registration"))
    return resident


def _redeem_binding_code(raw: str, parsed: IdNumber, name: str) -> Resident:
    code = proofs.find(CodePurpose.BINDING, raw)
    resident = db.session.get(Resident, code.resident_id) if code else None
    if resident is None or resident.id_number != parsed.value:
        raise Invalid("This binding code is not valid for this person: wrong, expired or used.", field="binding_code")
    if resident.name != name:
        raise Invalid("The name does not match the one checked on site with this binding code.", field="name")
    proofs.spend(code, used_by=f"resident:{resident.id}", field="binding_code")
    return resident


def _phone_proves(resident: Resident, name: str, phone: str) -> bool:
    """A verified person with no account bound, whose number on file WeChat just verified for the caller."""
    return (resident.verified and resident.openid is None and resident.name == name
            and resident.phone_hash is not None and resident.phone_hash == crypto.lookup_hash(phone))


def register_on_site(
    actor: Actor, *, name: str, id_number: str, phone: str | None, insurance_scheme: InsuranceScheme,
    insurance_region_code: str | None, home_window_id: int | None = None,
    identity_document: IdentityDocument | None = None, presence_code: str | None = None,
    guardian_presence_code: str | None = None,
) -> tuple[Resident, bool]:
    """Register a person at the centre, or find them (POLICY.md signing rule 10).

    Staff register and find only people of their centre's service area or present: a new record
    needs the on-site check of the identity document or a village clinic of the centre; an existing
    record is found when the centre reaches it already, when the person shows the presence code of
    their own mini-program, or with an on-site check, which verifies it and ends the claims on it
    nobody proved (registry.proofs.record_check). Returns the resident and whether the record is new.
    """
    parsed = parse_or_reject(id_number)
    name = name.strip()
    if home_window_id is not None:
        window = db.session.get(Window, home_window_id)
        if window is None or window.centre_id != actor.centre_id:
            raise Invalid("The village clinic is not one of your centre's.", field="home_window_id")
    if insurance_region_code is not None and db.session.get(Region, insurance_region_code) is None:
        raise Invalid("No such region.", field="insurance_region_code")
    with db.transaction():
        resident = find_by_id_number(parsed.value)
        created = resident is None
        if created:
            if identity_document is None and home_window_id is None:
                raise Forbidden(PRESENCE_NEEDED, field="identity_document", reason="presence_required")
            resident = new_resident(name=name, parsed=parsed, phone=phone, household=Household(),
                                    insurance_scheme=insurance_scheme, insurance_region_code=insurance_region_code,
                                    home_window_id=home_window_id, registered_by_centre_id=actor.centre_id)
            flush_or_conflict("This person was registered at the same moment; try again.")
            events.id_number_registered.send(None, resident_ids=[resident.id])
        elif identity_document is None:
            shown = proofs.presence_holder(presence_code) if presence_code else None
            if presence_code and (shown is None or shown.id != resident.id):
                raise Invalid("This is not a presence code the person's own mini-program shows now.", field="presence_code")
            if shown is None and not access.staff_reach(actor, resident):
                raise Forbidden(PRESENCE_NEEDED, field="identity_document", reason="presence_required")
            if resident.name != name:
                raise Invalid("The name does not match the record held for this ID number.", field="name")
        happened = []
        if identity_document is not None:
            _, happened = proofs.record_check(actor, resident, document=identity_document, name=name, phone=phone,
                                              presence_code=presence_code, guardian_presence_code=guardian_presence_code)
        flush_or_conflict("This person was registered at the same moment; try again.")
    audit.record("resident.register" if created else "resident.read", "resident", resident.id)
    for action, detail in happened:
        audit.record(action, "resident", resident.id, **detail)
    return resident, created


def issue_binding_code(actor: Actor, resident_id: int, *, purpose: CodePurpose) -> dict:
    """Hand a person checked on site today a one-time code: to bind a WeChat account to them
    (`binding`), or for the guardian or relative who takes them into their household (`join`)."""
    resident = access.get_resident(actor, resident_id)
    if purpose not in (CodePurpose.BINDING, CodePurpose.JOIN):
        raise Invalid("Staff hand out binding and join codes.", field="purpose")
    if proofs.checked_today(resident.id, actor.centre_id) is None:
        raise Conflict("A code is handed out only after your centre checked the person's identity document on site "
                       "today (POST /api/v1/residents with identity_document).", reason="identity_check_required")
    with db.transaction():
        code, row = proofs.issue(purpose, resident, issued_by=actor.subject)
    audit.record("identity.code_issued", "resident", resident.id, purpose=purpose.value)
    return {"code": code, "purpose": purpose, "expires_at": row.expires_at, "resident_id": resident.id}


def presence_code(actor: Actor) -> dict:
    """A short-lived code the caller's mini-program shows staff: this person, here, holds this account."""
    me = access.resident_of(actor)
    with db.transaction():
        code, row = proofs.issue(CodePurpose.PRESENCE, me, issued_by=actor.subject)
    return {"code": code, "purpose": CodePurpose.PRESENCE, "expires_at": row.expires_at, "resident_id": me.id}


def flush_or_conflict(message: str) -> None:
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None
