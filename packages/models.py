"""The package catalogue (annex 1 of 000) and the centres' prices of personalised packages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base


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
