"""Broker agencies, their brokers, and the effective-dated broker-of-record link to groups."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_core.db import Base, Money


class BrokerAgency(Base):
    __tablename__ = "broker_agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(10))

    brokers: Mapped[list[Broker]] = relationship(back_populates="agency")


class Broker(Base):
    __tablename__ = "broker"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("broker_agency.id"), index=True)
    npn: Mapped[str] = mapped_column(String(20), unique=True)  # National Producer Number
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))

    agency: Mapped[BrokerAgency] = relationship(back_populates="brokers")


class BrokerOfRecord(Base):
    """The agency (and writing broker) of record for a group, effective-dated inclusive."""

    __tablename__ = "broker_of_record"
    __table_args__ = (
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_range"
        ),
        CheckConstraint("commission_split_percent > 0", name="split"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("employer_group.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("broker_agency.id"), index=True)
    writing_broker_id: Mapped[int | None] = mapped_column(ForeignKey("broker.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    commission_split_percent: Mapped[Decimal] = mapped_column(
        Money(6, 2), default=Decimal("100.00")
    )

    agency: Mapped[BrokerAgency] = relationship()
    writing_broker: Mapped[Broker | None] = relationship()
