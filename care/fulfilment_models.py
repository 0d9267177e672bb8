"""The records fulfilment is derived from, beside visits and their records (care/models.py): package items
the team delivered and logged one by one.

Kept in their own module while visits, appointments and referrals change in care/models.py in parallel;
nothing stops folding them in later.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base


class ItemDelivery(Base):
    """One delivery of a package item that no visit record or attendance records (a test, a screening, a
    personalised-package service), logged by the team on the day it was given. Counts are derived from
    these rows, never typed in."""

    __tablename__ = "item_deliveries"
    __table_args__ = (
        Index("ix_item_deliveries_agreement_item", "agreement_id", "package_code", "item_code"),
        Index("ix_item_deliveries_resident_day", "resident_id", "delivered_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    edition: Mapped[str] = mapped_column(String(10))
    package_code: Mapped[str] = mapped_column(String(40))
    item_code: Mapped[str] = mapped_column(String(40))
    delivered_on: Mapped[date]
    note: Mapped[str | None] = mapped_column(String(500))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)
