"""Packages, health facts and follow-ups: the catalogue rows, centre prices, what each agreement
includes, the conditions/pregnancies/tags that drive schedules, scheduled visits and their records."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, enum_column
from signing.models import Resident


class PackageDef(Base):
    """A service package of one catalogue edition (annex 1 of 000); rows loaded by migration 0004."""

    __tablename__ = "packages"

    edition: Mapped[str] = mapped_column(String(10), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    tier: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(80))
    # Population tags any of which makes a resident eligible; null: everyone.
    eligible: Mapped[list | None] = mapped_column(JSON)

    items: Mapped[list[PackageItem]] = relationship(order_by="PackageItem.position", lazy="selectin")


class PackageItem(Base):
    """One service item of a package: what it is, how often, for whom."""

    __tablename__ = "package_items"
    __table_args__ = (ForeignKeyConstraint(["edition", "package_code"], ["packages.edition", "packages.code"]),)

    edition: Mapped[str] = mapped_column(String(10), primary_key=True)
    package_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    frequency: Mapped[str] = mapped_column(String(40))
    population: Mapped[str | None] = mapped_column(String(30))


class PackagePrice(Base):
    """A centre's price for a personalised package, in integer fen [000 §二(一)2]."""

    __tablename__ = "package_prices"
    __table_args__ = (ForeignKeyConstraint(["edition", "package_code"], ["packages.edition", "packages.code"]),)

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    edition: Mapped[str] = mapped_column(String(10), primary_key=True)
    package_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    price_fen: Mapped[int]
    set_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


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


class VisitState(str, enum.Enum):
    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Timeliness(str, enum.Enum):
    ON_TIME = "on_time"
    LATE = "late"


class Visit(Base):
    """One scheduled follow-up of one resident: due date, window, responsible team, state.

    "Due" and "overdue" are not stored: they follow from the window and today's date.
    (programme, code) names the visit in its protocol, unique per resident, so rebuilding a plan
    never duplicates a visit. `rescheduled` marks a visit clinical feedback moved: rebuilds keep it.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("resident_id", "programme", "code"),
        Index("ix_visits_team_state_due", "team_id", "state", "due_date"),
        Index("ix_visits_state_due", "state", "due_date"),
        # The worklist: a centre's planned visits by the last day of their window.
        Index("ix_visits_centre_state_window_end", "centre_id", "state", "window_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    programme: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(120))
    protocol_version: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date]
    window_start: Mapped[date]
    window_end: Mapped[date]
    state: Mapped[VisitState] = mapped_column(enum_column(VisitState), default=VisitState.PLANNED)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    rescheduled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    served_on: Mapped[date | None]
    timeliness: Mapped[Timeliness | None] = mapped_column(enum_column(Timeliness))
    referral: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    resident: Mapped[Resident] = relationship()


class VisitMode(str, enum.Enum):
    CLINIC = "clinic"
    HOME = "home"
    PHONE = "phone"


class Reading(str, enum.Enum):
    """How a hypertension/diabetes reading classifies (POLICY.md: danger signs; control targets)."""

    CONTROLLED = "controlled"
    UNCONTROLLED = "uncontrolled"
    DANGER = "danger"


class VisitRecord(Base):
    """What a doctor logged for a visit. A correction is a new revision; earlier ones stay as history.

    The window the visit had when it was served is kept, so timeliness stays true after later edits.
    """

    __tablename__ = "visit_records"
    __table_args__ = (UniqueConstraint("visit_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    revision: Mapped[int]
    current: Mapped[bool] = mapped_column(default=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    served_on: Mapped[date]
    mode: Mapped[VisitMode] = mapped_column(enum_column(VisitMode))
    systolic: Mapped[int | None]
    diastolic: Mapped[int | None]
    glucose: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    glucose_fasting: Mapped[bool | None]
    heart_rate: Mapped[int | None]
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    findings: Mapped[str | None] = mapped_column(String(2000))
    referral: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str | None] = mapped_column(String(2000))
    reading: Mapped[Reading | None] = mapped_column(enum_column(Reading))
    window_start: Mapped[date]
    window_end: Mapped[date]
    timeliness: Mapped[Timeliness] = mapped_column(enum_column(Timeliness))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)
