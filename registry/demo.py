"""Demo data for `make run`: pooling regions, centres with village clinics, teams and logins, then the county's
people and agreements from its export files (demo/county/<centre code>/*.csv), through the import path a real
county's files take (registry.imports: residents, then the agreements kind signing registers).

The files are dated for DEMO_DATE: `make run` runs the demo's processes on that business date (JIAYI_CLOCK_SHIFT,
core/clock.py), so the figures are the same on every machine.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from core import db
from core.auth import Actor, Role, hash_secret
from registry import imports, insurance, proofs
from registry.models import (
    ApiClient,
    Centre,
    IdentityDocument,
    Import,
    ImportProblem,
    ImportStatus,
    MemberRole,
    Region,
    Resident,
    Staff,
    Team,
    TeamMember,
    Window,
)

DEMO_DATE = date(2026, 11, 26)
FILES = Path(__file__).resolve().parent.parent / "demo" / "county"
IMPORTED_BY = "demo:import"
BUREAU_REGION = "430523"  # 邵阳县: the county whose bureau and administrator the demo logs in
# Every so many imported residents one was never checked on site: signed, but not counted for capitation.
UNCHECKED_EVERY = 12

REGIONS = [
    # code, name, parent, policy profile of the pooling region
    ("430000", "湖南省", None, None),
    ("430500", "邵阳市", "430000", None),
    ("430523", "邵阳县", "430500", "hunan-2025"),
    ("430522", "新邵县", "430500", "shaoyang-2019"),
    ("440000", "广东省", None, None),
    ("440800", "湛江市", "440000", None),
    ("440823", "遂溪县", "440800", "zhanjiang-2024"),
]

CENTRES = [
    # code, name, region, takes part, village clinics, teams
    ("430523-TDK", "邵阳县塘渡口镇中心卫生院", "430523", True, ["塘渡口村卫生室", "大木山村卫生室", "七里村卫生室"], ["李医生团队", "王医生团队"]),
    ("430523-BC", "邵阳县白仓镇卫生院", "430523", True, ["白仓村卫生室", "塘田村卫生室"], ["刘医生团队"]),
    ("430523-RMYY", "邵阳县人民医院", "430523", False, [], []),
    ("430522-YX", "新邵县酿溪镇卫生院", "430522", True, ["酿溪村卫生室"], ["陈医生团队"]),
    ("440823-SC", "遂溪县遂城镇卫生院", "440823", True, ["遂城村卫生站"], ["黄医生团队"]),
]

# What a resident's agreement names beside the centre: address, phone, opening hours (invented for the demo).
CENTRE_DETAILS = {
    "430523-TDK": ("邵阳县塘渡口镇宝庆中路 88 号", "0739-6800120", "周一至周日 8:00—12:00，14:30—17:30"),
    "430523-BC": ("邵阳县白仓镇白仓街 12 号", "0739-6900120", "周一至周六 8:00—12:00，14:30—17:30"),
    "430522-YX": ("新邵县酿溪镇大坪路 5 号", "0739-3600120", "周一至周日 8:00—17:30"),
    "440823-SC": ("遂溪县遂城镇建设路 21 号", "0759-7700120", "周一至周日 8:00—17:30"),
}
# The team that serves each village clinic: the one the county's files sign its people with.
CLINIC_TEAMS = {"塘渡口村卫生室": "李医生团队", "大木山村卫生室": "王医生团队", "七里村卫生室": "李医生团队",
                "白仓村卫生室": "刘医生团队", "塘田村卫生室": "刘医生团队", "酿溪村卫生室": "陈医生团队",
                "遂城村卫生站": "黄医生团队"}

LOGINS = {
    "doctor": ("doctor.li", "demo-doctor-2025"),
    "centre_admin": ("admin.tdk", "demo-admin-2025"),
    "bureau_user": ("bureau.shaoyang", "demo-bureau-2025"),
    "bureau_client": ("shaoyang-county-bureau", "demo-client-secret-2025"),
    "county_admin": ("admin.shaoyang", "demo-county-2025"),
}


def load() -> bool:
    """Load the demo registry and import the county's files once; False when it is already there."""
    if db.session.scalar(select(Centre.id).where(Centre.code == CENTRES[0][0])):
        return False
    _registry()
    for code, *_ in CENTRES:
        centre = db.session.scalar(select(Centre).where(Centre.code == code))
        if (FILES / code / "residents.csv").exists():
            import_file(centre, FILES / code / "residents.csv", "residents")
            _check_identities(centre)
        if (FILES / code / "agreements.csv").exists():
            import_file(centre, FILES / code / "agreements.csv", "agreements")
    _enrol(FILES / "insurance.csv")
    return True


def _enrol(path: Path) -> None:
    """The county bureau's file of the people it insures, through the bureau's file path (registry.insurance): they
    are in the insurance master file, which effective signing needs. A refused or unmatched row stops the demo."""
    client_id, _ = LOGINS["bureau_client"]
    bureau = Actor(role=Role.BUREAU, subject=f"client:{client_id}", region_code=BUREAU_REGION)
    report = insurance.report_enrolment_file(bureau, content=path.read_bytes(), filename=path.name)
    if report.refused or report.unmatched:
        raise RuntimeError(f"demo enrolment of {path}: refused {report.refused[:3]}, unmatched {report.unmatched[:3]}")


def import_file(centre: Centre, path: Path, kind: str) -> Import:
    """Import one file as `flask registry import` does; a refused row or a failure stops the demo."""
    source = imports.open_source(path.read_bytes(), path.name, kind)
    job = imports.run(imports.begin(None, centre_id=centre.id, filename=path.name, source=source,
                                    started_by=IMPORTED_BY, kind=kind).id, source)
    if job.status is not ImportStatus.DONE or job.refused:
        why = "; ".join(f"row {p.row} {p.column}: {p.why}" for p in db.session.scalars(
            select(ImportProblem).where(ImportProblem.import_id == job.id).order_by(ImportProblem.id).limit(5)))
        raise RuntimeError(f"demo import of {path} ended {job.status.value} with {job.refused} rows refused: {why}")
    return job


def _check_identities(centre: Centre) -> None:
    """The centre checked most imported residents' identity documents on site (what verifies a record)."""
    staff = Actor(role=Role.CENTRE_ADMIN, subject="demo:identity-check", centre_id=centre.id)
    people = db.session.scalars(select(Resident).where(Resident.registered_by_centre_id == centre.id,
                                                       Resident.verified_at.is_(None)).order_by(Resident.id)).all()
    with db.transaction():
        for n, person in enumerate(people):
            if n % UNCHECKED_EVERY:
                document = IdentityDocument.ID_CARD if person.id_number else IdentityDocument.HOUSEHOLD_REGISTER
                proofs.record_check(staff, person, document=document, name=person.name, phone=None, presence_code=None,
                                    guardian_presence_code=None)


def _registry() -> None:
    with db.transaction():
        for code, name, parent, profile in REGIONS:
            db.session.merge(Region(code=code, name=name, parent_code=parent, profile_code=profile))
        db.session.flush()
        for code, name, region, takes_part, windows, teams in CENTRES:
            address, phone, hours = CENTRE_DETAILS.get(code, (None, None, None))
            centre = Centre(code=code, name=name, region_code=region, takes_part=takes_part, address=address,
                            phone=phone, opening_hours=hours)
            centre.windows = [Window(code=f"{code}-{i + 1:02d}", name=w) for i, w in enumerate(windows)]
            centre.teams = [Team(name=t) for t in teams]
            db.session.add(centre)
        db.session.flush()
        for centre in db.session.scalars(select(Centre)):
            teams = {team.name: team.id for team in centre.teams}
            for window in centre.windows:
                window.team_id = teams[CLINIC_TEAMS[window.name]]
        first = db.session.scalar(select(Centre).where(Centre.code == CENTRES[0][0]))
        staff = {
            "doctor": dict(name="李医生", role=Role.DOCTOR, centre_id=first.id, team_id=first.teams[0].id),
            "centre_admin": dict(name="塘渡口管理员", role=Role.CENTRE_ADMIN, centre_id=first.id),
            "bureau_user": dict(name="邵阳县医保局", role=Role.BUREAU, region_code=BUREAU_REGION),
            "county_admin": dict(name="邵阳县卫健局管理员", role=Role.ADMIN, region_code=BUREAU_REGION),
        }
        logins = {}
        for login, fields in staff.items():
            username, password = LOGINS[login]
            logins[login] = Staff(username=username, password_hash=hash_secret(password), **fields)
            db.session.add(logins[login])
        db.session.flush()
        # Each team's family doctor, named after the team (李医生团队 → 李医生): the named doctor a signing needs.
        for number, team in enumerate(db.session.scalars(select(Team).order_by(Team.id)), start=1):
            db.session.add(TeamMember(team_id=team.id, role=MemberRole.DOCTOR, name=team.name.removesuffix("团队"),
                                      title="主治医师", speciality="全科", contact=f"0739-8{number:06d}",
                                      staff_id=logins["doctor"].id if team.id == first.teams[0].id else None))
        client_id, secret = LOGINS["bureau_client"]
        db.session.add(ApiClient(client_id=client_id, secret_hash=hash_secret(secret), name="邵阳县医保信息系统",
                                 region_code=BUREAU_REGION))
