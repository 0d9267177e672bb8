"""Who is signed where: agreements, change requests, consents and the packages an agreement holds."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, enum_column
from registry.models import Centre, Resident, Team, TeamMember


class AgreementStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    CHANGE_PENDING = "change_pending"
    TERMINATED = "terminated"
    EXPIRED = "expired"


# Statuses in which an agreement holds the resident's one place in its cycle (the unique index below).
HOLDING = (AgreementStatus.PENDING, AgreementStatus.ACTIVE, AgreementStatus.CHANGE_PENDING)
# Statuses of an agreement that ran or runs its course; with TERMINATED it is in force until it ended.
_SERVED = (*HOLDING, AgreementStatus.EXPIRED)


class Channel(str, enum.Enum):
    ONLINE = "online"
    ON_SITE = "on_site"
    RENEWAL = "renewal"
    DEFAULT = "default"


class TerminationReason(str, enum.Enum):
    MOVED_AWAY = "moved_away"
    UNREACHABLE = "unreachable_one_year"
    REFUSED_SERVICE = "refused_service_one_year"
    OWN_REQUEST = "own_request"
    DEATH = "death"
    OTHER = "other"


class SigningBasis(str, enum.Enum):
    """How the signing centre knew the person was theirs to sign (POLICY.md signing rule 10).

    Signing a person is not access to them: an agreement lets the centre's staff reach the person
    only when it records one of these; an agreement without one (older than the rule) reaches nobody.
    """

    SELF = "self"  # the resident, or an adult of their household, signed in the mini-program
    SERVICE_AREA = "service_area"  # household registration or residence in a village of the centre
    PRESENCE_CODE = "presence_code"  # present: the code of their own (or their household's) mini-program
    IDENTITY_CHECK = "identity_check"  # present: the centre checked their identity document that day


class Agreement(Base):
    """One resident's signing with one centre for one cycle (a multi-year term renews cycle by cycle).

    The partial unique index is the one-centre-per-cycle rule (POLICY.md signing rule 2): at most
    one non-terminated agreement per resident and cycle, whatever races the requests run.
    """

    __tablename__ = "agreements"
    __table_args__ = (
        Index(
            "uq_agreements_one_per_cycle",
            "resident_id",
            "cycle",
            unique=True,
            sqlite_where=text("status <> 'terminated'"),
            postgresql_where=text("status <> 'terminated'"),
        ),
        Index("ix_agreements_region_cycle", "region_code", "cycle"),
        # Whether a resident holds or held an agreement of a cycle, terminated ones too (signing rule 10).
        Index("ix_agreements_resident_cycle", "resident_id", "cycle"),
        Index("ix_agreements_centre_cycle", "centre_id", "cycle"),
        # Rosters page by (change_seq, id) within a region and cycle (settlement.rosters).
        Index("ix_agreements_roster", "region_code", "cycle", "change_seq", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # The named family doctor (annex 1 of 000, basic package item 2): a doctor member of the agreement's team.
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("team_members.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    cycle: Mapped[int]
    start_date: Mapped[date]
    end_date: Mapped[date]
    term_years: Mapped[int]
    term_end_date: Mapped[date]
    status: Mapped[AgreementStatus] = mapped_column(enum_column(AgreementStatus))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    # Insured and insured in the signing region (POLICY.md signing rule 6).
    counts_for_capitation: Mapped[bool]
    signed_by: Mapped[str] = mapped_column(String(120))
    basis: Mapped[SigningBasis | None] = mapped_column(enum_column(SigningBasis))
    # The on-site check a signing on the strength of an identity check rests on.
    identity_check_id: Mapped[int | None] = mapped_column(ForeignKey("identity_checks.id"))
    renewed_from_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    terminated_on: Mapped[date | None]
    termination_reason: Mapped[TerminationReason | None] = mapped_column(enum_column(TerminationReason))
    termination_note: Mapped[str | None] = mapped_column(String(500))
    # "1+1+1" [002 §(三)3]: a secondary and a tertiary hospital of the pooling region beside the centre (signing.hospitals).
    secondary_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"))
    tertiary_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, index=True)
    # The database numbers every write in commit order (migration 0017's triggers): the roster's order, so an
    # incremental pull never passes a row yet to commit (settlement.rosters). Read it from the database: a loaded
    # object holds the number its write was given, not the one its commit gave.
    change_seq: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue(),
                                                   server_onupdate=FetchedValue())

    resident: Mapped[Resident] = relationship()
    centre: Mapped[Centre] = relationship()
    team: Mapped[Team | None] = relationship()
    doctor: Mapped[TeamMember | None] = relationship()

    def is_in_force_on(self, day: date) -> bool:
        """`in_force_on` for a loaded agreement."""
        if not self.start_date <= day <= self.end_date:
            return False
        if self.status is AgreementStatus.TERMINATED:
            return self.terminated_on is not None and self.terminated_on > day
        return self.status in _SERVED


def in_force_on(day: date, agreement=Agreement) -> ColumnElement[bool]:
    """The one definition of "agreement in force on a day", as SQL: begun, within its cycle, and not
    terminated by then. A change request (change_pending) leaves it in force until the cycle ends.

    Used by plans, reminders, lectures, package changes, counts and snapshots alike;
    `Agreement.is_in_force_on` is the same rule for a loaded row (a test holds them equal).
    """
    return and_(
        agreement.start_date <= day,
        agreement.end_date >= day,
        or_(agreement.status.in_(_SERVED),
            and_(agreement.status == AgreementStatus.TERMINATED, agreement.terminated_on > day)),
    )


class ChangeRequestStatus(str, enum.Enum):
    PENDING = "pending"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"


class ChangeRequest(Base):
    """A request to sign with another centre from the next cycle (POLICY.md signing rule 3)."""

    __tablename__ = "change_requests"
    __table_args__ = (
        Index(
            "uq_change_requests_one_pending",
            "agreement_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("team_members.id"))
    effective_cycle: Mapped[int]
    status: Mapped[ChangeRequestStatus] = mapped_column(enum_column(ChangeRequestStatus), default=ChangeRequestStatus.PENDING)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)


class Consent(Base):
    """A resident's separate consent to processing their health and identity data (PIPL art. 29, 31)."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    text_version: Mapped[str] = mapped_column(String(20))
    # The adult household member who consented for a child under 14; null when the resident did.
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    recorded_by: Mapped[str] = mapped_column(String(120))
    consented_at: Mapped[datetime] = mapped_column(default=clock.now)

    resident: Mapped[Resident] = relationship(foreign_keys=[resident_id])
    agreement: Mapped[Agreement] = relationship()


class AgreementPackage(Base):
    """A package an agreement includes, from `added_on` until `dropped_on`; rows are never deleted."""

    __tablename__ = "agreement_packages"
    __table_args__ = (
        ForeignKeyConstraint(["edition", "package_code"], ["packages.edition", "packages.code"]),
        Index("uq_agreement_packages_one_current", "agreement_id", "package_code", unique=True,
              sqlite_where=text("dropped_on IS NULL"), postgresql_where=text("dropped_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), index=True)
    edition: Mapped[str] = mapped_column(String(10))
    package_code: Mapped[str] = mapped_column(String(40))
    price_fen: Mapped[int]
    added_on: Mapped[date]
    added_by: Mapped[str] = mapped_column(String(120))
    dropped_on: Mapped[date | None]
    dropped_by: Mapped[str | None] = mapped_column(String(120))
