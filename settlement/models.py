"""Frozen monthly head counts (POLICY.md "Settlement": the count for a month is never recomputed), actual costs,
and the field surveys of the evaluation (annex 2 of 000, item 6)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, enum_column
from registry.models import PolicyProfileVersion


class Snapshot(Base):
    """One pooling region's frozen counts for one month; unique, so freezing twice is a no-op."""

    __tablename__ = "settlement_snapshots"
    __table_args__ = (UniqueConstraint("region_code", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    month: Mapped[str] = mapped_column(String(7))
    as_of: Mapped[date]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The profile version the month is settled under (null: frozen before profiles had versions, i.e. the first).
    profile_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_profile_versions.id", name="fk_settlement_snapshots_profile_version"))

    lines: Mapped[list[SnapshotLine]] = relationship(order_by="SnapshotLine.id")
    profile_version: Mapped[PolicyProfileVersion | None] = relationship()


class LineKind(str, enum.Enum):
    COUNT = "count"
    ADJUSTMENT = "adjustment"


class SnapshotLine(Base):
    """A centre's counts in a snapshot, or a late correction to an earlier month's counts."""

    __tablename__ = "settlement_snapshot_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("settlement_snapshots.id"), index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind))
    # For an adjustment: the earlier month whose frozen counts it corrects.
    adjusts_month: Mapped[str | None] = mapped_column(String(7))
    # Measure name -> head count (or, for an adjustment, the change in it).
    figures: Mapped[dict] = mapped_column(JSON)


class ActualCostFiling(Base):
    """A bureau's actual outpatient costs of its centres for one month [003 §六]; a later filing supersedes,
    earlier ones stay as history."""

    __tablename__ = "settlement_actual_cost_filings"
    __table_args__ = (Index("ix_actual_cost_filings_region_month", "region_code", "month", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    month: Mapped[str] = mapped_column(String(7))
    filed_by: Mapped[str] = mapped_column(String(120))
    filed_at: Mapped[datetime] = mapped_column(default=clock.now)

    costs: Mapped[list[ActualCost]] = relationship(order_by="ActualCost.centre_id")


class ActualCost(Base):
    """One centre's actual cost in a filing, integer fen."""

    __tablename__ = "settlement_actual_costs"

    filing_id: Mapped[int] = mapped_column(ForeignKey("settlement_actual_cost_filings.id"), primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    cost_fen: Mapped[int] = mapped_column(BigInteger)


class SurveyKind(str, enum.Enum):
    """The two questionnaires of annex 2's field survey (item 6)."""

    POLICY_AWARENESS = "policy_awareness"
    SATISFACTION = "satisfaction"


class Survey(Base):
    """A short questionnaire published by the bureau for its pooling region's centres, or by a centre for itself.

    `questions`: [{code, text, choices: [{code, text, counts}]}]; an answer whose choice `counts` is one
    aware (or satisfied) answer. Published with its sample drawn: the invitations.
    """

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_region_cycle", "region_code", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[SurveyKind] = mapped_column(enum_column(SurveyKind))
    title: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))  # the pooling region
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))  # a centre's own survey
    cycle: Mapped[int]
    questions: Mapped[list] = mapped_column(JSON)
    sample_size: Mapped[int]
    closes_on: Mapped[date]
    published_by: Mapped[str] = mapped_column(String(120))
    published_at: Mapped[datetime] = mapped_column(default=clock.now)

    invitations: Mapped[list[SurveyInvitation]] = relationship(order_by="SurveyInvitation.id", viewonly=True)


class SurveyInvitation(Base):
    """A signed resident drawn into a survey's sample, and their answers once given ({question code: choice code})."""

    __tablename__ = "survey_invitations"
    __table_args__ = (UniqueConstraint("survey_id", "resident_id"), Index("ix_survey_invitations_resident", "resident_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    invited_at: Mapped[datetime] = mapped_column(default=clock.now)
    answered_at: Mapped[datetime | None]
    answers: Mapped[dict | None] = mapped_column(JSON)

    survey: Mapped[Survey] = relationship()


class Figure(Base):
    """One version of a figure the bureau files because it alone knows it (settlement/figures.py): the year's
    outpatient fund [001 五(一)1], the financing and fee-for-service totals of the pool [000 §二(一)5], an annex-2
    input of a centre. Append-only: a re-filing is the next version; the database refuses UPDATE and DELETE.

    `scope` is the centre's id, or 0 for a figure of the whole pooling region (so the unique index holds for both).
    """

    __tablename__ = "settlement_figures"
    __table_args__ = (UniqueConstraint("region_code", "period", "name", "scope", "version"),
                      Index("ix_settlement_figures_region_period", "region_code", "period"))

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY (a cycle) or YYYY-MM
    name: Mapped[str] = mapped_column(String(40))
    scope: Mapped[int]
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"))
    version: Mapped[int]
    value: Mapped[str] = mapped_column(String(40))  # exact decimal text: fen, a count, a rate, 0/1
    filed_by: Mapped[str] = mapped_column(String(120))
    filed_at: Mapped[datetime] = mapped_column(default=clock.now)
