"""Administration of the registry by county and centre administrators (POLICY.md glossary: regions, centres,
village clinics, teams, staff, API clients, policy profiles).

A county administrator is Role.ADMIN scoped to a region: they administer that region and every region
below it (a city's administrator its counties), and nothing else (403). An administrator account without
a region administers nothing through the API; the server's operator works through the CLI. A centre
administrator administers their own centre's village clinics, teams and doctors. Every change is audited.
"""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from core import audit, clock, db, lockout, sessions
from core.auth import Actor, Role, hash_secret
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.pagination import paginate
from registry import access, profiles
from registry.models import (
    ApiClient,
    Centre,
    Community,
    CommunityMember,
    Hospital,
    PolicyProfile,
    PolicyProfileVersion,
    Region,
    Resident,
    Staff,
    Team,
    TeamMember,
    Window,
)
from registry.service import pooling_region, region_and_descendants


def administered_regions(actor: Actor) -> list[str]:
    """The region codes a county administrator administers: their own and every one below it."""
    if actor.role is not Role.ADMIN or not actor.region_code:
        raise Forbidden("Only a county administrator administers regions.")
    return region_and_descendants(actor.region_code)


def check_administers_region(actor: Actor, region_code: str | None) -> None:
    """403 outside the actor's county; it does not name the region (of a row another county keeps)."""
    if region_code not in administered_regions(actor):
        raise Forbidden("You administer only your own county.")


def load_profile(actor: Actor | None, *, profile: dict, effective_from: date, source: str | None = None,
                 path: str = "") -> tuple[PolicyProfileVersion, bool]:
    """Load a policy profile as a new version (registry.profiles); None as actor is the server's operator (CLI)."""
    allowed = None if actor is None else administered_regions(actor)
    version, created = profiles.load(profile, effective_from=effective_from, source=source, path=path,
                                     loaded_by=actor.subject if actor else "cli", allowed_regions=allowed)
    if created:
        audit.record("profile.load", "policy_profile", version.code, version=version.version,
                     effective_from=effective_from.isoformat(), source=source)
    return version, created


# Scopes ------------------------------------------------------------------------------------------

def _check_administers(actor: Actor, *, centre_id: int, region_code: str, refusal: str) -> None:
    """A centre administrator administers what belongs to their centre; a county administrator, their county."""
    if actor.role is Role.CENTRE_ADMIN:
        if actor.centre_id != centre_id:
            raise Forbidden(refusal)
    else:
        check_administers_region(actor, region_code)


def administered_centre(actor: Actor, centre_id: int) -> Centre:
    """A centre the actor administers: a county administrator's within their county, a centre administrator's own."""
    centre = db.get_or_404(Centre, centre_id, "centre")
    _check_administers(actor, centre_id=centre.id, region_code=centre.region_code,
                       refusal="You administer only your own centre.")
    return centre


def _changed(action: str, target_type: str, row, changes: dict, conflict: str | None = None, *,
             ends_sessions_of: str | None = None) -> None:
    """Apply `changes` to `row` in a transaction and audit which fields changed (never their values); a unique key
    taken already is a 409 saying `conflict`. `ends_sessions_of` names a subject whose sessions end in the same
    transaction (a disabled account)."""
    try:
        with db.transaction():
            for name, value in changes.items():
                setattr(row, name, value)
            db.session.flush()
            if ends_sessions_of:
                sessions.revoke_subject(ends_sessions_of, reason=action)
    except IntegrityError:
        if conflict is None:
            raise
        raise Conflict(conflict) from None
    audit.record(action, target_type, getattr(row, "id", None) or getattr(row, "code", None), fields=sorted(changes))


def _created(action: str, target_type: str, row, conflict: str, **detail):
    try:
        with db.transaction():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise Conflict(conflict) from None
    audit.record(action, target_type, getattr(row, "id", None) or getattr(row, "code", None), **detail)
    return row


# Regions (GB/T 2260) ------------------------------------------------------------------------------

def _check_profile(actor: Actor, profile_code: str | None) -> None:
    """A region settles under a loaded profile that no region outside the administrator's county uses (taking up
    another county's profile would take its versions out of that county's hands)."""
    if profile_code is None:
        return
    if db.session.get(PolicyProfile, profile_code) is None:
        raise Invalid("No such policy profile; load it first.", field="profile_code")
    profiles.check_users_administered(profile_code, administered_regions(actor))


def _check_code_under(code: str, parent_code: str) -> None:
    """A GB/T 2260 code shares its parent's province (2 digits) or city (4 digits) prefix. A county (last two
    digits not 00) has no 6-digit code below it: a code after its own would be a neighbouring county's."""
    if not parent_code.endswith("00"):
        raise Invalid(f"{parent_code} is a county-level code: GB/T 2260 has no region below it.", field="parent_code")
    if parent_code.endswith("0000"):
        prefix, level = parent_code[:2], "a city or county-level code (not ending 0000)"
        fits = code.startswith(prefix) and not code.endswith("0000")
    else:
        prefix, level = parent_code[:4], "a county-level code (not ending 00)"
        fits = code.startswith(prefix) and not code.endswith("00")
    if not fits:
        raise Invalid(f"A region under {parent_code} has {level} starting {prefix} (GB/T 2260).", field="code")


def regions(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The regions the administrator administers."""
    query = select(Region).where(Region.code.in_(administered_regions(actor)))
    return paginate(query, key_columns=[Region.code], cursor=cursor, limit=limit)


def create_region(actor: Actor, *, code: str, name: str, parent_code: str, profile_code: str | None) -> Region:
    """Add a region under one the administrator administers (a county under their city, a town under their county)."""
    check_administers_region(actor, parent_code)
    _check_code_under(code, parent_code)
    _check_profile(actor, profile_code)
    return _created("admin.region.create", "region", Region(code=code, name=name, parent_code=parent_code,
                                                             profile_code=profile_code),
                    f"Region {code} exists already.")


def update_region(actor: Actor, code: str, **changes) -> Region:
    """Rename a region or change the policy profile it settles under (from the next frozen month)."""
    region = db.get_or_404(Region, code, "region")
    check_administers_region(actor, region.code)
    _check_profile(actor, changes.get("profile_code"))
    _changed("admin.region.update", "region", region, changes)
    return region


# Centres, village clinics, teams -------------------------------------------------------------------

COUNTY_ONLY_CENTRE_FIELDS = {"name", "takes_part"}


def centres(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The centres the actor administers (a centre administrator: their own)."""
    query = select(Centre)
    if actor.role is Role.CENTRE_ADMIN:
        query = query.where(Centre.id == actor.centre_id)
    else:
        query = query.where(Centre.region_code.in_(administered_regions(actor)))
    return paginate(query, key_columns=[Centre.id], cursor=cursor, limit=limit)


def create_centre(actor: Actor, *, region_code: str, **fields) -> Centre:
    """Add a centre to a region of the administrator's county; takes_part=false for a second-level hospital."""
    if db.session.get(Region, region_code) is None:
        raise Invalid("No such region.", field="region_code")
    check_administers_region(actor, region_code)
    return _created("admin.centre.create", "centre", Centre(region_code=region_code, **fields),
                    f"A centre with code {fields['code']!r} exists already.")


def update_centre(actor: Actor, centre_id: int, **changes) -> Centre:
    """Change a centre's details; whether it takes part and its name are the county administrator's."""
    centre = administered_centre(actor, centre_id)
    if actor.role is Role.CENTRE_ADMIN and COUNTY_ONLY_CENTRE_FIELDS & set(changes):
        field = sorted(COUNTY_ONLY_CENTRE_FIELDS & set(changes))[0]
        raise Forbidden("Only the county administrator changes this.", field=field)
    _changed("admin.centre.update", "centre", centre, changes)
    return centre


def _check_window_team(centre_id: int, team_id: int | None) -> None:
    if team_id is None:
        return
    team = db.session.get(Team, team_id)
    if team is None or team.centre_id != centre_id:
        raise Invalid("The team serving a village clinic is a team of its centre.", field="team_id")


def create_window(actor: Actor, *, centre_id: int, code: str, name: str, team_id: int | None = None) -> Window:
    """Add a village clinic to the centre's service area (with the team that serves it, if named)."""
    centre = administered_centre(actor, centre_id)
    _check_window_team(centre.id, team_id)
    return _created("admin.window.create", "window", Window(centre_id=centre.id, code=code, name=name, team_id=team_id),
                    f"The centre has a village clinic with code {code!r} already.")


def update_window(actor: Actor, window_id: int, **changes) -> Window:
    window = db.get_or_404(Window, window_id, "village clinic")
    administered_centre(actor, window.centre_id)
    if "team_id" in changes:
        _check_window_team(window.centre_id, changes["team_id"])
    _changed("admin.window.update", "window", window, changes, "The centre has a village clinic with this code already.")
    return window


def create_team(actor: Actor, *, centre_id: int, name: str) -> Team:
    centre = administered_centre(actor, centre_id)
    return _created("admin.team.create", "team", Team(centre_id=centre.id, name=name), "")


def update_team(actor: Actor, team_id: int, **changes) -> Team:
    team = db.get_or_404(Team, team_id, "team")
    administered_centre(actor, team.centre_id)
    _changed("admin.team.update", "team", team, changes)
    return team


def _check_member_staff(team: Team, staff_id: int | None) -> None:
    if staff_id is None:
        return
    staff = db.session.get(Staff, staff_id)
    if staff is None or staff.centre_id != team.centre_id:
        raise Invalid("The login must be a staff account of the team's centre.", field="staff_id")


def team_members(actor: Actor, team_id: int, *, cursor: str | None, limit: int) -> dict:
    team = db.get_or_404(Team, team_id, "team")
    administered_centre(actor, team.centre_id)
    return paginate(select(TeamMember).where(TeamMember.team_id == team.id), key_columns=[TeamMember.id],
                    cursor=cursor, limit=limit)


MEMBER_TWICE = "This staff member is on the team already."


def add_member(actor: Actor, *, team_id: int, **fields) -> TeamMember:
    """Add a doctor, nurse, public-health worker or village doctor to a team."""
    team = db.get_or_404(Team, team_id, "team")
    administered_centre(actor, team.centre_id)
    _check_member_staff(team, fields.get("staff_id"))
    return _created("admin.team_member.create", "team_member", TeamMember(team_id=team.id, **fields), MEMBER_TWICE)


def update_member(actor: Actor, member_id: int, **changes) -> TeamMember:
    member = db.get_or_404(TeamMember, member_id, "team member")
    team = db.session.get(Team, member.team_id)
    administered_centre(actor, team.centre_id)
    if "staff_id" in changes:
        _check_member_staff(team, changes["staff_id"])
    _changed("admin.team_member.update", "team_member", member, changes, MEMBER_TWICE)
    return member


# Staff accounts -----------------------------------------------------------------------------------

CENTRE_ROLES = (Role.DOCTOR, Role.CENTRE_ADMIN)


def _temporary_password() -> str:
    """A one-time password the administrator hands over; the first login must replace it."""
    return secrets.token_urlsafe(12)


def _check_staff_place(actor: Actor, role: Role, centre_id: int | None, team_id: int | None,
                       region_code: str | None) -> None:
    """Doctors and centre administrators belong to a centre (and team); bureau users and administrators to a region."""
    if role in CENTRE_ROLES:
        if centre_id is None:
            raise Invalid("A doctor or centre administrator belongs to a centre.", field="centre_id")
        if region_code is not None:
            raise Invalid("A centre's staff have no region of their own.", field="region_code")
        administered_centre(actor, centre_id)
        if role is Role.CENTRE_ADMIN and actor.role is Role.CENTRE_ADMIN:
            raise Forbidden("The county administrator appoints centre administrators.", field="role")
        if team_id is not None:
            team = db.session.get(Team, team_id)
            if team is None or team.centre_id != centre_id:
                raise Invalid("The team belongs to another centre.", field="team_id")
    else:
        if actor.role is not Role.ADMIN:
            raise Forbidden("The county administrator creates bureau users and administrators.", field="role")
        if region_code is None or centre_id is not None or team_id is not None:
            raise Invalid("Bureau users and administrators belong to a region, not a centre.", field="region_code")
        if db.session.get(Region, region_code) is None:
            raise Invalid("No such region.", field="region_code")
        check_administers_region(actor, region_code)


def administered_staff(actor: Actor, staff_id: int) -> Staff:
    staff = db.get_or_404(Staff, staff_id, "staff account")
    if staff.role in CENTRE_ROLES:
        administered_centre(actor, staff.centre_id)
        if actor.role is Role.CENTRE_ADMIN and staff.role is Role.CENTRE_ADMIN and staff.id != actor.staff_id:
            raise Forbidden("The county administrator administers centre administrators.")
    else:
        check_administers_region(actor, staff.region_code)
    return staff


def staff_accounts(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    if actor.role is Role.CENTRE_ADMIN:
        query = select(Staff).where(Staff.centre_id == actor.centre_id)
    else:
        regions = administered_regions(actor)
        in_county = select(Centre.id).where(Centre.region_code.in_(regions))
        query = select(Staff).where(or_(Staff.region_code.in_(regions), Staff.centre_id.in_(in_county)))
    return paginate(query, key_columns=[Staff.id], cursor=cursor, limit=limit)


def create_staff(actor: Actor, *, username: str, name: str, role: Role, centre_id: int | None = None,
                 team_id: int | None = None, region_code: str | None = None) -> tuple[Staff, str]:
    """Open a staff account with a one-time password (returned once); the first login sets a new one."""
    _check_staff_place(actor, role, centre_id, team_id, region_code)
    password = _temporary_password()
    staff = Staff(username=username, name=name, role=role, centre_id=centre_id, team_id=team_id, region_code=region_code,
                  password_hash=hash_secret(password), must_change_password=True)
    _created("admin.staff.create", "staff", staff, f"The username {username!r} is taken.", role=role.value)
    return staff, password


def update_staff(actor: Actor, staff_id: int, *, reset_password: bool = False, **changes) -> tuple[Staff, str | None]:
    """Rename, move between teams, disable or re-enable an account, or reset its password (returned once)."""
    staff = administered_staff(actor, staff_id)
    if "team_id" in changes and changes["team_id"] is not None:
        team = db.session.get(Team, changes["team_id"])
        if team is None or team.centre_id != staff.centre_id:
            raise Invalid("The team belongs to another centre.", field="team_id")
    password = None
    if reset_password:
        password = _temporary_password()
        changes.update(password_hash=hash_secret(password), must_change_password=True)
    # A disabled account, one whose password was reset or moved to another team is logged out at once
    # (its tokens carry the team).
    ends = changes.get("active") is False or reset_password or changes.get("team_id", staff.team_id) != staff.team_id
    _changed("admin.staff.update", "staff", staff, changes, ends_sessions_of=f"staff:{staff.id}" if ends else None)
    return staff, password


def unlock_staff(actor: Actor, staff_id: int) -> Staff:
    """Lift the login lockout of an account the caller administers, from every address (core/lockout.py)."""
    staff = administered_staff(actor, staff_id)
    held = lockout.unlock(f"staff:{staff.username}")
    audit.record("admin.staff.unlock", "staff", staff.id, locks=held)
    return staff


# Bureau API clients -------------------------------------------------------------------------------

def _client_secret() -> str:
    return secrets.token_urlsafe(32)


def administered_client(actor: Actor, client_id: int) -> ApiClient:
    client = db.get_or_404(ApiClient, client_id, "API client")
    check_administers_region(actor, client.region_code)
    return client


def api_clients(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    query = select(ApiClient).where(ApiClient.region_code.in_(administered_regions(actor)))
    return paginate(query, key_columns=[ApiClient.id], cursor=cursor, limit=limit)


def create_client(actor: Actor, *, client_id: str, name: str, region_code: str) -> tuple[ApiClient, str]:
    """Give a bureau system of the county credentials; the secret is shown once and only its hash kept."""
    if db.session.get(Region, region_code) is None:
        raise Invalid("No such region.", field="region_code")
    check_administers_region(actor, region_code)
    secret = _client_secret()
    client = ApiClient(client_id=client_id, name=name, region_code=region_code, secret_hash=hash_secret(secret))
    _created("admin.api_client.create", "api_client", client, f"The client id {client_id!r} is taken.")
    return client, secret


def rotate_secret(actor: Actor, client_id: int) -> tuple[ApiClient, str]:
    """Replace a client's secret (the old one stops working at once); the new one is shown once."""
    client = administered_client(actor, client_id)
    secret = _client_secret()
    with db.transaction():
        client.secret_hash = hash_secret(secret)
        sessions.revoke_subject(f"client:{client.client_id}", reason="secret_rotated")
    audit.record("admin.api_client.rotate_secret", "api_client", client.id)
    return client, secret


def update_client(actor: Actor, client_id: int, **changes) -> ApiClient:
    """Rename, disable or re-enable a bureau client; disabling ends its tokens at once."""
    client = administered_client(actor, client_id)
    ends = f"client:{client.client_id}" if changes.get("active") is False else None
    _changed("admin.api_client.update", "api_client", client, changes, ends_sessions_of=ends)
    return client


def unlock_client(actor: Actor, client_id: int) -> ApiClient:
    """Lift the lockout of a bureau client's secret, from every address (core/lockout.py)."""
    client = administered_client(actor, client_id)
    held = lockout.unlock(f"client:{client.client_id}")
    audit.record("admin.api_client.unlock", "api_client", client.id, locks=held)
    return client


def create_administrator(*, username: str, name: str, region_code: str) -> tuple[Staff, str]:
    """Open a county administrator's account from the server's shell (the first administrator has no one above)."""
    if db.session.get(Region, region_code) is None:
        raise Invalid("No such region.", field="region_code")
    password = _temporary_password()
    staff = Staff(username=username, name=name, role=Role.ADMIN, region_code=region_code,
                  password_hash=hash_secret(password), must_change_password=True)
    _created("admin.staff.create", "staff", staff, f"The username {username!r} is taken.", role=Role.ADMIN.value)
    return staff, password


# Hospitals of "1+1+1" [002 §(三)3] -------------------------------------------------------------------

def _region_of_county(actor: Actor, region_code: str) -> None:
    if db.session.get(Region, region_code) is None:
        raise Invalid("No such region.", field="region_code")
    check_administers_region(actor, region_code)


def hospitals(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The secondary and tertiary hospitals of the administrator's county."""
    query = select(Hospital).where(Hospital.region_code.in_(administered_regions(actor)))
    return paginate(query, key_columns=[Hospital.id], cursor=cursor, limit=limit)


def create_hospital(actor: Actor, *, region_code: str, **fields) -> Hospital:
    """Add a secondary or tertiary hospital residents of the pooling region may choose beside their centre."""
    _region_of_county(actor, region_code)
    return _created("admin.hospital.create", "hospital", Hospital(region_code=region_code, **fields),
                    f"A hospital with code {fields['code']!r} exists already.")


def update_hospital(actor: Actor, hospital_id: int, **changes) -> Hospital:
    """Rename, regrade or retire a hospital (active=false: no new choices; agreements keep theirs)."""
    hospital = db.get_or_404(Hospital, hospital_id, "hospital")
    check_administers_region(actor, hospital.region_code)
    _changed("admin.hospital.update", "hospital", hospital, changes, "A hospital with this code exists already.")
    return hospital


# Functional communities (group signing, 002 §(三)1) ---------------------------------------------------

def _check_community_place(region_code: str, centre: Centre) -> None:
    """A community lies in the pooling region of the centre that signs it (the region its members sign in)."""
    region = db.session.get(Region, region_code)
    if region is None:
        raise Invalid("No such region.", field="region_code")
    if pooling_region(region_code) is None or pooling_region(region_code) != pooling_region(centre.region_code):
        raise Invalid("The community lies outside the pooling region of the centre that signs it.", field="region_code")


def administered_community(actor: Actor, community_id: int) -> Community:
    """A community the actor administers: a county administrator's in their county, a centre administrator's own."""
    community = db.get_or_404(Community, community_id, "community")
    _check_administers(actor, centre_id=community.centre_id, region_code=community.region_code,
                       refusal="You administer only your own centre's communities.")
    return community


def communities(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The functional communities the actor administers (a centre administrator: those their centre signs)."""
    query = select(Community)
    if actor.role is Role.CENTRE_ADMIN:
        query = query.where(Community.centre_id == actor.centre_id)
    else:
        query = query.where(Community.region_code.in_(administered_regions(actor)))
    return paginate(query, key_columns=[Community.id], cursor=cursor, limit=limit)


def create_community(actor: Actor, *, centre_id: int, region_code: str, **fields) -> Community:
    """Add an employer, industrial park or office building whose members a centre signs as a group."""
    centre = administered_centre(actor, centre_id)
    if actor.role is Role.ADMIN:
        check_administers_region(actor, region_code)
    _check_community_place(region_code, centre)
    return _created("admin.community.create", "community",
                    Community(centre_id=centre.id, region_code=region_code, **fields), "")


def update_community(actor: Actor, community_id: int, **changes) -> Community:
    """Rename or describe a community, retire it, or (county administrator) give it to another centre."""
    community = administered_community(actor, community_id)
    if {"centre_id", "region_code"} & set(changes):
        if actor.role is Role.CENTRE_ADMIN:
            raise Forbidden("Only the county administrator moves a community.", field=sorted({"centre_id", "region_code"} & set(changes))[0])
        centre = administered_centre(actor, changes.get("centre_id", community.centre_id))
        region_code = changes.get("region_code", community.region_code)
        check_administers_region(actor, region_code)
        _check_community_place(region_code, centre)
    _changed("admin.community.update", "community", community, changes)
    return community


def _county_reaches(actor: Actor, resident: Resident) -> bool:
    """A county administrator reaches people insured in their county or registered, living or of household
    registration in a village of one of its centres."""
    regions = administered_regions(actor)
    if resident.insurance_region_code in regions:
        return True
    centre_ids = {resident.registered_by_centre_id}
    for window_id in (resident.home_window_id, resident.residence_window_id):
        window = db.session.get(Window, window_id) if window_id is not None else None
        centre_ids.add(window.centre_id if window else None)
    centre_ids.discard(None)
    return db.session.scalar(select(Centre.id).where(Centre.id.in_(centre_ids), Centre.region_code.in_(regions))
                             .limit(1)) is not None


def community_members(actor: Actor, community_id: int, *, cursor: str | None, limit: int) -> dict:
    """The members of a community, with their names (a read of personal data: audited)."""
    community = administered_community(actor, community_id)
    query = (select(CommunityMember.resident_id, Resident.name, CommunityMember.added_at)
             .join(Resident, Resident.id == CommunityMember.resident_id)
             .where(CommunityMember.community_id == community.id))
    page = paginate(query, key_columns=[CommunityMember.resident_id], cursor=cursor, limit=limit, rows=True)
    audit.record("admin.community.members.read", "community", community.id,
                 residents=[row.resident_id for row in page["items"]])
    return page


def add_members(actor: Actor, community_id: int, *, resident_ids: list[int]) -> list[dict]:
    """Link residents to a community: people the caller reaches (a centre administrator: their centre's people,
    POLICY.md signing rule 10). Ids out of reach or unknown get one answer, so ids cannot be probed; nothing is
    written then. Linking someone linked already changes nothing."""
    community = administered_community(actor, community_id)
    wanted = list(dict.fromkeys(resident_ids))
    found = {r.id: r for r in db.session.scalars(select(Resident).where(Resident.id.in_(wanted)))}
    reaches = access.staff_reach if actor.role is Role.CENTRE_ADMIN else _county_reaches
    refused = [rid for rid in wanted if rid not in found or not reaches(actor, found[rid])]
    if refused:
        raise Forbidden("These residents are not people you reach (your centre's service area, its registrations, "
                        "its on-site checks today, or people signed with it).", field="resident_ids", resident_ids=refused)
    with db.transaction():
        added = [rid for rid in wanted if db.insert_unless_exists(CommunityMember, community_id=community.id, resident_id=rid,
                                                                   added_by=actor.subject, added_at=clock.now())]
    audit.record("admin.community.members.add", "community", community.id, residents=added)
    return [{"resident_id": rid, "name": found[rid].name, "added": rid in added} for rid in wanted]


def remove_member(actor: Actor, community_id: int, resident_id: int) -> None:
    """Unlink a resident from a community (their agreements stay as they are)."""
    community = administered_community(actor, community_id)
    with db.transaction():
        removed = db.session.execute(delete(CommunityMember).where(CommunityMember.community_id == community.id,
                                                                   CommunityMember.resident_id == resident_id)).rowcount
    if not removed:
        raise NotFound("No such member of this community.")
    audit.record("admin.community.members.remove", "community", community.id, residents=[resident_id])
