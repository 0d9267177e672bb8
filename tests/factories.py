"""Small factories for tests. They commit: in a test that only releases a savepoint of the test's
own transaction, which is rolled back at the end, and it keeps the rows across requests."""

from __future__ import annotations

import functools
import itertools
from datetime import date

from sqlalchemy import select

from core import clock, crypto
from core import db as core_db
from core.auth import Actor, Role, hash_secret, issue_token
from registry.demo import REGIONS
from registry.idcard import check_character
from registry.models import (
    BindingProof,
    Centre,
    Household,
    InsuranceScheme,
    MemberRole,
    Region,
    Resident,
    Sex,
    Staff,
    Team,
    TeamMember,
    Window,
)

_sequence = itertools.count(1)
PASSWORD = "correct horse battery staple"


def id_number(birth: date, *, region: str = "430523", sex: Sex = Sex.FEMALE) -> str:
    """A valid ID number for someone born on `birth` (a fresh sequence number each call)."""
    n = next(_sequence) % 500
    sequence = f"{n * 2 + (1 if sex is Sex.MALE else 0):03d}"
    first17 = f"{region}{birth:%Y%m%d}{sequence}"
    return first17 + check_character(first17)


def _unused_id_number(born: date, sex: Sex) -> str:
    """A fresh ID number no resident holds: only 500 sequence numbers exist per birth date and sex, and
    tests that run real processes commit rows that outlive their test."""
    while True:
        number = id_number(born, sex=sex)
        if core_db.session.scalar(select(Resident.id).where(Resident.id_number_hash == crypto.lookup_hash(number))) is None:
            return number


def regions() -> None:
    for code, name, parent, profile in REGIONS:
        core_db.session.merge(Region(code=code, name=name, parent_code=parent, profile_code=profile))
    core_db.session.commit()


def centre(*, region: str = "430523", name: str | None = None, takes_part: bool = True, windows: int = 2,
           teams: int = 1, doctors: bool = True) -> Centre:
    """A centre with village clinics and teams; each team has a doctor (the named doctor a signing needs)
    unless `doctors` is false."""
    code = f"C{next(_sequence)}"
    built = Centre(code=code, name=name or f"{code} 卫生院", region_code=region, takes_part=takes_part)
    built.windows = [Window(code=f"{code}-{i}", name=f"{code} 村卫生室 {i}") for i in range(windows)]
    built.teams = [Team(name=f"{code} 团队 {i}") for i in range(teams)]
    core_db.session.add(built)
    core_db.session.flush()
    if doctors:
        core_db.session.add_all([team_doctor(team) for team in built.teams])
    core_db.session.commit()
    return built


def team_doctor(team: Team, *, name: str | None = None, active: bool = True) -> TeamMember:
    """A doctor member of a team, with a title and a contact phone (not yet added to the session)."""
    return TeamMember(team_id=team.id, role=MemberRole.DOCTOR, name=name or f"{team.name} 医生", title="主治医师",
                      speciality="全科", contact=f"1390739{next(_sequence) % 10_000:04d}", active=active)


def resident(*, born: date = date(1980, 5, 1), name: str | None = None, household: Household | None = None,
             openid: str | None = None, insured_in: str | None = "430523",
             scheme: InsuranceScheme = InsuranceScheme.RESIDENT, sex: Sex = Sex.FEMALE, verified: bool = True,
             phone: str | None = None, **fields) -> Resident:
    """A resident; by default verified on site (as the people the older tests sign), with any openid proven."""
    number = _unused_id_number(born, sex)
    built = Resident(
        name=name or f"居民{next(_sequence)}",
        id_number=number,
        id_number_hash=crypto.lookup_hash(number),
        phone=phone,
        phone_hash=crypto.lookup_hash(phone) if phone else None,
        birth_date=born,
        sex=sex,
        household=household or Household(),
        openid=openid,
        insurance_scheme=scheme if insured_in else InsuranceScheme.UNINSURED,
        insurance_region_code=insured_in,
        verified_at=clock.now() if verified else None,
        verified_by="test:factory" if verified else None,
        binding_proof=BindingProof.BINDING_CODE if openid and verified else None,
        **fields,
    )
    core_db.session.add(built)
    core_db.session.commit()
    return built


@functools.cache
def _password_hash() -> str:
    return hash_secret(PASSWORD)


def staff(*, role: Role = Role.DOCTOR, centre: Centre | None = None, region: str | None = None) -> Staff:
    built = Staff(
        username=f"user{next(_sequence)}",
        password_hash=_password_hash(),
        name="医生",
        role=role,
        centre_id=centre.id if centre else None,
        team_id=centre.teams[0].id if centre and centre.teams else None,
        region_code=region,
    )
    core_db.session.add(built)
    core_db.session.commit()
    return built


def bearer(actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(actor)['access_token']}"}


def as_resident(person: Resident) -> dict[str, str]:
    return bearer(Actor(role=Role.RESIDENT, subject=f"wx:{person.openid}"))


def as_staff(member: Staff) -> dict[str, str]:
    return bearer(Actor(role=Role(member.role.value), subject=f"staff:{member.id}", centre_id=member.centre_id,
                        team_id=member.team_id, region_code=member.region_code))
