"""The registry: regions, policy profiles, centres, village clinics (windows), teams, staff, API clients,
households, residents and the proofs of who they are, and the health facts (conditions, pregnancies,
tags) that drive key populations."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, and_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core import clock
from core.auth import Role
from core.crypto import Encrypted
from core.db import Base, enum_column


class PolicyProfile(Base):
    """A pooling region's signing and payment rules, held as data (POLICY.md: one profile per region)."""

    __tablename__ = "policy_profiles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    cycle_start_month: Mapped[int] = mapped_column(default=1)
    cycle_start_day: Mapped[int] = mapped_column(default=1)
    # Change requests are accepted between these month-days of a cycle, e.g. "10-01".."12-31".
    change_period_start: Mapped[str] = mapped_column(String(5), default="10-01")
    change_period_end: Mapped[str] = mapped_column(String(5), default="12-31")
    auto_renew: Mapped[bool] = mapped_column(default=True)
    default_assignment: Mapped[bool] = mapped_column(default=False)
    max_term_years: Mapped[int] = mapped_column(default=3)
    # Signing names a village clinic of the centre too (Zhanjiang [003 §三]: 1 centre + 1 integrated village clinic).
    requires_village_clinic: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Capitation rule and its parameters (the settlement side reads them).
    settlement: Mapped[dict] = mapped_column(JSON, default=dict)
    # The PolicyProfileVersion these values come from: the one in force today (registry.profiles).
    version: Mapped[int] = mapped_column(default=1)


class PolicyProfileVersion(Base):
    """One loaded version of a profile, in force from `effective_from`; never changed once loaded, so a frozen
    month can always be settled under the version it was computed with (registry.profiles)."""

    __tablename__ = "policy_profile_versions"
    __table_args__ = (UniqueConstraint("code", "version"),
                      Index("ix_policy_profile_versions_effective", "code", "effective_from"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(ForeignKey("policy_profiles.code"))
    version: Mapped[int]
    effective_from: Mapped[date]
    # The canonical profile JSON (registry.profiles.Profile.as_json), validated when it was loaded.
    body: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(200))
    loaded_by: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def settlement(self) -> dict:
        return self.body["settlement"]


class Region(Base):
    """A GB/T 2260 area; county-level pooling regions carry a policy profile."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    profile_code: Mapped[str | None] = mapped_column(ForeignKey("policy_profiles.code"))

    profile: Mapped[PolicyProfile | None] = relationship()


class Centre(Base):
    """A township health centre or community health-service centre: where residents sign."""

    __tablename__ = "centres"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    # POLICY.md signing rule 7: institutions at second-level-hospital standard do not take part.
    takes_part: Mapped[bool] = mapped_column(default=True)
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(30))
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    region: Mapped[Region] = relationship()
    windows: Mapped[list[Window]] = relationship(back_populates="centre", order_by="Window.id")
    teams: Mapped[list[Team]] = relationship(back_populates="centre", order_by="Team.id")


class Window(Base):
    """A village clinic or community station: a service window of one centre."""

    __tablename__ = "windows"
    __table_args__ = (UniqueConstraint("centre_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    # The family-doctor team that serves the village: a resident who chooses no team is put with it.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))

    centre: Mapped[Centre] = relationship(back_populates="windows")


class Team(Base):
    """A family-doctor team of one centre."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))

    centre: Mapped[Centre] = relationship(back_populates="teams")
    # Its active doctors, the lead (first) one first: whom a resident can name as their family doctor.
    doctors: Mapped[list[TeamMember]] = relationship(
        primaryjoin=lambda: and_(TeamMember.team_id == Team.id, TeamMember.role == MemberRole.DOCTOR,
                                 TeamMember.active.is_(True)),
        order_by=lambda: TeamMember.id, viewonly=True)


class MemberRole(str, enum.Enum):
    """Who a family-doctor team holds (POLICY.md glossary)."""

    DOCTOR = "doctor"
    NURSE = "nurse"
    PUBLIC_HEALTH = "public_health"
    VILLAGE_DOCTOR = "village_doctor"


class TeamMember(Base):
    """A member of a family-doctor team, as the resident sees them; `staff_id` is their login, if any."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "staff_id"),)  # a login is on a team once; cards without one, many

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole))
    name: Mapped[str] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(String(60))  # 职称, e.g. 主治医师
    speciality: Mapped[str | None] = mapped_column(String(120))
    photo_url: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(60))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    active: Mapped[bool] = mapped_column(default=True)


class Staff(Base):
    """A person who logs in with a password: doctor, centre admin, bureau user, administrator."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[Role] = mapped_column(enum_column(Role))  # any role but resident
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    active: Mapped[bool] = mapped_column(default=True)
    # Set by an administrator who creates the account or resets its password: the first login sets a new one.
    must_change_password: Mapped[bool] = mapped_column(default=False)

    @validates("role")
    def _staff_role(self, _key, role: Role) -> Role:
        if role is Role.RESIDENT:  # residents log in through WeChat, never with a password
            raise ValueError("staff cannot have the resident role")
        return role


class ApiClient(Base):
    """A medical-insurance bureau system with machine credentials, scoped to its pooling region."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    active: Mapped[bool] = mapped_column(default=True)


class Household(Base):
    """A family that can sign as one unit (POLICY.md signing rule 5)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The household number (户号) of the county system an import came from, as "<region>:<number>".
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)

    members: Mapped[list[Resident]] = relationship(back_populates="household", order_by="Resident.id")


class InsuranceScheme(str, enum.Enum):
    RESIDENT = "resident"
    EMPLOYEE = "employee"
    UNINSURED = "uninsured"


class Sex(str, enum.Enum):
    MALE = "M"
    FEMALE = "F"


class BindingProof(str, enum.Enum):
    """How a WeChat account proved it belongs to the person it is bound to (POLICY.md signing rule 10)."""

    WECHAT_PHONE = "wechat_phone"  # WeChat verified the account's phone: the one on file of a verified person
    BINDING_CODE = "binding_code"  # a one-time code staff handed the person after checking their ID on site
    PRESENCE_CODE = "presence_code"  # the person showed their mini-program's code to staff at an on-site check


class Resident(Base):
    """A person who can sign. ID number and phone are stored encrypted, with keyed hashes to find them.

    Knowing a name and an ID number proves nothing (POLICY.md signing rule 10): a record is
    `verified` only by an on-site check of the identity document (or, later, the insurance enrolment
    data), a WeChat binding carries its proof, and a household membership someone else claimed
    online is marked as a claim. An on-site check ends unproven bindings and claims.
    """

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Null until a newborn's number is issued (registry.newborns); unique among those that have one.
    id_number: Mapped[str | None] = mapped_column(Encrypted("residents.id_number"))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(Encrypted("residents.phone"))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    birth_date: Mapped[date]
    sex: Mapped[Sex] = mapped_column(enum_column(Sex))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    insurance_scheme: Mapped[InsuranceScheme] = mapped_column(enum_column(InsuranceScheme), default=InsuranceScheme.UNINSURED)
    insurance_region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    # Effective signing (annex 2 of 000) also needs a health record and the insurance master file.
    has_health_record: Mapped[bool] = mapped_column(default=False)
    in_insurance_master: Mapped[bool] = mapped_column(default=False)
    # Village of household registration: where default assignment puts a resident (signing rule 4).
    home_window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    # Village of residence (where it differs from household registration): also in the centre's service area.
    residence_window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    registered_by_centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))
    # An on-site check of the identity document (registry/proofs.py); null: self-registered, unverified.
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(120))
    # Null for a self-registration (or a binding older than these rules): an on-site check ends it.
    binding_proof: Mapped[BindingProof | None] = mapped_column(enum_column(BindingProof))
    # In this household by another member's unproven claim (added online as a new child).
    household_claimed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The date of death, once recorded: nobody dead is signed, renewed, assigned or counted from then (signing rule 10).
    died_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    household: Mapped[Household | None] = relationship(back_populates="members")

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class IdentityDocument(str, enum.Enum):
    ID_CARD = "id_card"  # 居民身份证
    HOUSEHOLD_REGISTER = "household_register"  # 户口簿: a child's identity, and the guardian's link to them


class IdentityCheck(Base):
    """Staff of a centre saw a person's identity document on site: the person was present that day.

    It verifies the record, lets the centre's staff sign and serve the person that day, and is what
    an agreement signed on its strength points to (POLICY.md signing rule 10).
    """

    __tablename__ = "identity_checks"
    __table_args__ = (Index("ix_identity_checks_resident_centre_day", "resident_id", "centre_id", "checked_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    document: Mapped[IdentityDocument] = mapped_column(enum_column(IdentityDocument))
    checked_by: Mapped[str] = mapped_column(String(120))
    checked_on: Mapped[date]
    checked_at: Mapped[datetime] = mapped_column(default=clock.now)


class CodePurpose(str, enum.Enum):
    PRESENCE = "presence"  # a resident's mini-program shows it to staff: I am here, and this account is mine
    BINDING = "binding"  # staff hand it to a person after an on-site check: bind your WeChat account to you
    JOIN = "join"  # staff hand it over after an on-site check: take this person into your household
    INVITATION = "invitation"  # a resident gives it to another adult: join my household


class IdentityCode(Base):
    """A one-time code of identity proof, stored as a keyed hash. `resident_id` is whom it speaks for:
    the presence code's and the invitation's holder, the person a binding or join code was issued for."""

    __tablename__ = "identity_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[CodePurpose] = mapped_column(enum_column(CodePurpose))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    issued_by: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(120))


class ConditionKind(str, enum.Enum):
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"  # type 2
    COPD = "copd"
    TB = "tb"
    SEVERE_MENTAL = "severe_mental"
    TUMOUR = "tumour"
    STROKE = "stroke"


class Condition(Base):
    """A diagnosis a doctor recorded for a resident (POLICY.md signing rule 8)."""

    __tablename__ = "conditions"
    __table_args__ = (UniqueConstraint("resident_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    kind: Mapped[ConditionKind] = mapped_column(enum_column(ConditionKind))
    diagnosed_on: Mapped[date]
    recorded_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(120))


class Pregnancy(Base):
    """A registered pregnancy: last menstrual period (or from the expected date), and the delivery."""

    __tablename__ = "pregnancies"
    __table_args__ = (
        Index("uq_pregnancies_one_ongoing", "resident_id", unique=True,
              sqlite_where=text("delivered_on IS NULL"), postgresql_where=text("delivered_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    last_menstrual_period: Mapped[date]
    expected_delivery: Mapped[date]
    delivered_on: Mapped[date | None]
    registered_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(120))


class RecordedTag(str, enum.Enum):
    """Key populations that cannot be derived and are recorded (POLICY.md signing rule 8)."""

    DISABLED = "disabled"
    POVERTY_ALLEVIATED = "poverty_alleviated"
    SPECIAL_FAMILY_PLANNING = "special_family_planning"


class PopulationTag(Base):
    __tablename__ = "population_tags"

    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), primary_key=True)
    tag: Mapped[RecordedTag] = mapped_column(enum_column(RecordedTag), primary_key=True)
    recorded_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(120))


class ImportStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Import(Base):
    """A bulk import from a county system's export (residents and households, agreements …), and its progress."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    # What the file holds: a name in registry.imports.KINDS.
    kind: Mapped[str] = mapped_column(String(20), default="residents", server_default=text("'residents'"))
    filename: Mapped[str] = mapped_column(String(200))
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus), default=ImportStatus.QUEUED)
    total_rows: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(String(500))
    started_by: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    # Who runs it (a runner's random id) and until when, renewed with each batch; a runner that died leaves the lease
    # to run out, and the scheduler resumes the import after the last batch it committed (registry.imports).
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None]


class ImportFile(Base):
    """The file of an import that has not ended, sealed (core.crypto.seal: it holds ID numbers and phones), so
    another process can resume it; deleted when the import ends."""

    __tablename__ = "import_files"

    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ImportProblem(Base):
    """Why one row of an import was refused (nothing of that row was written)."""

    __tablename__ = "import_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"), index=True)
    row: Mapped[int]
    column: Mapped[str] = mapped_column(String(40))
    why: Mapped[str] = mapped_column(String(300))


class InsuranceFact(Base):
    """What the bureau reported of a person's insurance, in force from `valid_from` to `valid_to` (inclusive;
    null: open). The resident's scheme and insurance region are the fact in force today (registry.insurance)."""

    __tablename__ = "insurance_facts"
    __table_args__ = (UniqueConstraint("resident_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    scheme: Mapped[InsuranceScheme] = mapped_column(enum_column(InsuranceScheme))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    valid_from: Mapped[date] = mapped_column(index=True)
    valid_to: Mapped[date | None] = mapped_column(index=True)
    reported_by: Mapped[str] = mapped_column(String(120))
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)


class HeldEnrolment(Base):
    """A fact the bureau reported of an insured person nobody has registered yet, held by the keyed hashes of their ID
    number and name (neither is kept) until a record with that ID number appears: it then becomes the resident's
    InsuranceFact, and a name that matches verifies a self-registered record (registry.insurance)."""

    __tablename__ = "held_enrolments"
    __table_args__ = (UniqueConstraint("id_number_hash", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number_hash: Mapped[str] = mapped_column(String(64))
    name_hash: Mapped[str | None] = mapped_column(String(64))
    scheme: Mapped[InsuranceScheme] = mapped_column(enum_column(InsuranceScheme))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    reported_by: Mapped[str] = mapped_column(String(120))
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)


class HospitalGrade(str, enum.Enum):
    """The hospital grades "1+1+1" combines with the centre (POLICY.md signing rule 5; 002 §(三)3: 二级, 三级)."""

    SECONDARY = "secondary"  # 二级医院
    TERTIARY = "tertiary"  # 三级医院


class Hospital(Base):
    """A secondary or tertiary hospital a resident may choose beside their centre ("1+1+1", 002 §(三)3).

    It belongs to the region it lies in; a resident chooses among those of the pooling region they sign in.
    """

    __tablename__ = "hospitals"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    grade: Mapped[HospitalGrade] = mapped_column(enum_column(HospitalGrade))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    # false: no longer offered for new choices (agreements that chose it keep it).
    active: Mapped[bool] = mapped_column(default=True)


class CommunityKind(str, enum.Enum):
    """Functional communities that sign as a group [002 §(三)1]: 党政机关、企事业单位、产业园区、商务楼宇."""

    GOVERNMENT = "government"
    EMPLOYER = "employer"
    INDUSTRIAL_PARK = "industrial_park"
    OFFICE_BUILDING = "office_building"


class Community(Base):
    """A functional community (an employer, an industrial park, an office building) whose members a centre signs
    as a group (POLICY.md signing rule 5); each member's own signing rules still hold (signing.groups)."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[CommunityKind] = mapped_column(enum_column(CommunityKind))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    # The centre that signs and serves the community's members.
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CommunityMember(Base):
    """A resident who belongs to a functional community (works at the employer, in the park or building)."""

    __tablename__ = "community_members"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), primary_key=True, index=True)
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime] = mapped_column(default=clock.now)
