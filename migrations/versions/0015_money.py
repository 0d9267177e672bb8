"""money: filed figures (append-only, with author and history); the Shaoyang outpatient fund and the Hunan scheme
split, secondary distribution and annex-2 scoring as new profile versions

Shaoyang's first version paid 40 yuan a head: that is the basic-package fee of 001 五(三), not the outpatient
fund of 001 五(一)1. The new version is in force from 2020-01-01 (the plan's first year); Hunan's from
2025-07-01 (000 §三(一)). Months frozen under an earlier version keep it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""
from datetime import date, datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

APPEND_ONLY = "settlement figures are append-only"
PG_FUNCTION = f"""
CREATE FUNCTION settlement_figures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
END $$
"""

EVALUATION = {
    "personal_burden": {"points": 15, "base": 7, "step": "0.005", "better": "lower"},
    "visit_rate": {"points": 20, "base": 10, "step": "0.005", "better": "higher"},
    "effective_signing": {"points": 20, "base": 10, "step": "0.001", "better": "higher"},
    "drug_list": {"points": 20, "per_missing": 1},
    "integration": {"points_per_item": 2},
    "field_survey": {"points": "7.5", "target": "0.90", "per_point": "0.5"},
    "bonus": {"max": 10, "national": 5, "provincial": 3, "city": 2, "county": 1, "other": 1},
    "deduction": {"max": 10, "per_case": 1},
}
# code -> (effective from, settlement, evaluation or None, basis); bodies as registry.profiles.Profile.as_json writes them.
VERSIONS = {
    "shaoyang-2019": (date(2020, 1, 1), {"rule": "outpatient-fund", "reserve_share": "0.20"}, None,
                      "[001 四(三)1, 五(一)1] unchosen residents go to their registration village; the bureau files the "
                      "year's outpatient fund (about 10% of the resident fund [001 三(二)]); 20% held as risk reserve, "
                      "the rest prepaid monthly per township centre by head count, settled against actual costs, the "
                      "surplus carried to the next month. (40 yuan a head in 五(三) is the basic-package fee, not the fund.)"),
    "hunan-2025": (date(2025, 7, 1), {"rule": "prepay", "fee_fen_per_year": 8500, "split_by_scheme": True,
                                      "secondary_distribution": True, "pay_share": "0.90"}, EVALUATION,
                   "[000 §二(一)3, 5, §二(二), annex 2] budget = signed insured (same region) x base fee (>= 85 yuan), "
                   "per scheme; budget / 12 x 90% prepaid monthly, the rest after the year-end evaluation; the pool "
                   "(financing - capitation for signed - fee-for-service for unsigned) distributed by grade; employees "
                   "by the year-end formula; centres scored by annex 2."),
}

profiles = sa.table("policy_profiles", sa.column("code", sa.String), sa.column("settlement", sa.JSON),
                    sa.column("version", sa.Integer))
versions = sa.table("policy_profile_versions", sa.column("id", sa.Integer), sa.column("code", sa.String),
                    sa.column("version", sa.Integer), sa.column("effective_from", sa.Date), sa.column("body", sa.JSON),
                    sa.column("source", sa.String), sa.column("loaded_by", sa.String),
                    sa.column("loaded_at", sa.DateTime(timezone=True)))


def _new_versions() -> None:
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    for code, (effective_from, settlement, evaluation, basis) in VERSIONS.items():
        latest = bind.execute(sa.select(versions.c.version, versions.c.body).where(versions.c.code == code)
                              .order_by(versions.c.version.desc()).limit(1)).first()
        if latest is None:  # a database without this profile: nothing to correct
            continue
        body = dict(latest.body)
        body.update(settlement=settlement, basis=basis)
        if evaluation is not None:
            body["evaluation"] = evaluation
        number = latest.version + 1
        op.bulk_insert(versions, [dict(code=code, version=number, effective_from=effective_from, body=body,
                                       source="migration 0015", loaded_by="system:migration", loaded_at=now)])
        op.execute(profiles.update().where(profiles.c.code == code).values(settlement=settlement, version=number))


def _old_versions() -> None:
    bind = op.get_bind()
    for code in VERSIONS:
        op.execute(versions.delete().where(versions.c.code == code, versions.c.source == "migration 0015"))
        latest = bind.execute(sa.select(versions.c.version, versions.c.body).where(versions.c.code == code)
                              .order_by(versions.c.version.desc()).limit(1)).first()
        if latest is not None:
            op.execute(profiles.update().where(profiles.c.code == code)
                       .values(settlement=latest.body["settlement"], version=latest.version))


def upgrade() -> None:
    op.create_table(
        "settlement_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("filed_by", sa.String(length=120), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["centres.id"], name=op.f("fk_settlement_figures_centre_id_centres")),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_settlement_figures_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_figures")),
        sa.UniqueConstraint("region_code", "period", "name", "scope", "version",
                            name=op.f("uq_settlement_figures_region_code_period_name_scope_version")),
    )
    op.create_index("ix_settlement_figures_region_period", "settlement_figures", ["region_code", "period"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER settlement_figures_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "
                   "settlement_figures FOR EACH STATEMENT EXECUTE FUNCTION settlement_figures_append_only()")
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER settlement_figures_no_{operation.lower()} BEFORE {operation} ON settlement_figures "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
    _new_versions()


def downgrade() -> None:
    _old_versions()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER settlement_figures_append_only ON settlement_figures")
        op.execute("DROP FUNCTION settlement_figures_append_only()")
    op.drop_index("ix_settlement_figures_region_period", table_name="settlement_figures")
    op.drop_table("settlement_figures")
