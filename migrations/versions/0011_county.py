"""county: versioned policy profiles (frozen snapshots keep theirs); administration (centre details, team members,
one-time staff passwords); bulk imports; insurance facts; newborns without an ID number

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""
import json
from datetime import date, datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ROW_FIELDS = ("name", "cycle_start_month", "cycle_start_day", "change_window_start", "change_window_end", "auto_renew",
              "default_assignment", "max_term_years")
# The profiles as they stood before they had versions: in force since before any data this backend holds.
BEFORE_VERSIONS = date(2000, 1, 1)


def _versions_of_existing_profiles() -> None:
    """Version 1 of every profile is what its row holds now."""
    profiles = sa.table("policy_profiles", sa.column("code", sa.String), sa.column("settlement", sa.JSON),
                        *(sa.column(name) for name in ROW_FIELDS))
    versions = sa.table("policy_profile_versions", sa.column("code", sa.String), sa.column("version", sa.Integer),
                        sa.column("effective_from", sa.Date), sa.column("body", sa.JSON),
                        sa.column("source", sa.String), sa.column("loaded_by", sa.String),
                        sa.column("loaded_at", sa.DateTime(timezone=True)))
    rows = op.get_bind().execute(sa.select(profiles)).mappings().all()
    now = datetime.now(timezone.utc).replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else datetime.now(timezone.utc)
    if rows:
        op.bulk_insert(versions, [
            dict(code=row["code"], version=1, effective_from=BEFORE_VERSIONS, source="migration 0011",
                 loaded_by="system:migration", loaded_at=now,
                 body={"code": row["code"], **{name: row[name] for name in ROW_FIELDS},
                       "settlement": row["settlement"] if isinstance(row["settlement"], dict) else json.loads(row["settlement"])})
            for row in rows])


SNAPSHOT_FK = "fk_settlement_snapshots_profile_version"  # the conventional name is too long for PostgreSQL


def _add_snapshot_profile_version() -> None:
    """Snapshots refuse UPDATE (0008): the column is added and never filled in; null means version 1.

    On SQLite a plain ADD COLUMN with its REFERENCES inline: batch mode would rebuild the table and lose
    0008's triggers (and the rebuild's DROP would trip the lines' foreign key).
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE settlement_snapshots ADD COLUMN profile_version_id INTEGER "
                   f"CONSTRAINT {SNAPSHOT_FK} REFERENCES policy_profile_versions (id)")
    else:
        op.add_column("settlement_snapshots", sa.Column("profile_version_id", sa.Integer(), nullable=True))
        op.create_foreign_key(SNAPSHOT_FK, "settlement_snapshots", "policy_profile_versions", ["profile_version_id"], ["id"])


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change it (batch mode); its DROP of the old table would trip the foreign keys
    of rows pointing at it, so they are off around the rebuilds. The PRAGMA only works outside a transaction,
    and the engine begins one for every statement (core.db), so it goes to the driver between COMMIT and BEGIN."""
    if op.get_bind().dialect.name == "sqlite":
        driver = op.get_bind().connection.driver_connection
        driver.execute("COMMIT")
        driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        driver.execute("BEGIN")


def upgrade() -> None:
    op.create_table(
        "policy_profile_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("loaded_by", sa.String(length=120), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["code"], ["policy_profiles.code"], name=op.f("fk_policy_profile_versions_code_policy_profiles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_profile_versions")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_policy_profile_versions_code_version")),
    )
    with op.batch_alter_table("policy_profile_versions", schema=None) as batch_op:
        batch_op.create_index("ix_policy_profile_versions_effective", ["code", "effective_from"], unique=False)
    with op.batch_alter_table("policy_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    _versions_of_existing_profiles()
    # Snapshots refuse UPDATE (0008): the column is added, never filled in; null means version 1.
    _add_snapshot_profile_version()
    with op.batch_alter_table("centres", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("opening_hours", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Double(), nullable=True))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Enum("doctor", "nurse", "public_health", "village_doctor", name="memberrole",
                                  native_enum=False, length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=60), nullable=True),
        sa.Column("speciality", sa.String(length=120), nullable=True),
        sa.Column("photo_url", sa.String(length=500), nullable=True),
        sa.Column("contact", sa.String(length=60), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_team_members_staff_id_staff")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_team_id"), ["team_id"], unique=False)
    _sqlite_foreign_keys(False)
    _imports()
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.alter_column("id_number", existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column("id_number_hash", existing_type=sa.String(length=64), nullable=True)
    _sqlite_foreign_keys(True)
    op.create_table(
        "insurance_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.Enum("resident", "employee", "uninsured", name="insurancescheme", native_enum=False,
                                    length=32), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("reported_by", sa.String(length=120), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_insurance_facts_region_code_regions")),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_insurance_facts_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_facts")),
        sa.UniqueConstraint("resident_id", "valid_from", name=op.f("uq_insurance_facts_resident_id_valid_from")),
    )
    with op.batch_alter_table("insurance_facts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insurance_facts_valid_from"), ["valid_from"], unique=False)
        batch_op.create_index(batch_op.f("ix_insurance_facts_valid_to"), ["valid_to"], unique=False)


def _imports() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_households_external_ref"), ["external_ref"])
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Enum("queued", "running", "done", "failed", name="importstatus", native_enum=False,
                                    length=32), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.Column("started_by", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["centre_id"], ["centres.id"], name=op.f("fk_imports_centre_id_centres")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imports_centre_id"), ["centre_id"], unique=False)
    op.create_table(
        "import_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=40), nullable=False),
        sa.Column("why", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=op.f("fk_import_problems_import_id_imports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_problems")),
    )
    with op.batch_alter_table("import_problems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_problems_import_id"), ["import_id"], unique=False)

def downgrade() -> None:
    op.drop_table("insurance_facts")
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.alter_column("id_number_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("id_number", existing_type=sa.String(length=255), nullable=False)
    op.drop_table("import_problems")
    op.drop_table("imports")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_households_external_ref"), type_="unique")
        batch_op.drop_column("external_ref")
    _sqlite_foreign_keys(True)
    op.drop_table("team_members")
    op.drop_column("staff", "must_change_password")
    for column in ("address", "phone", "opening_hours", "latitude", "longitude"):
        op.drop_column("centres", column)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE settlement_snapshots DROP COLUMN profile_version_id")
    else:
        op.drop_constraint(SNAPSHOT_FK, "settlement_snapshots", type_="foreignkey")
        op.drop_column("settlement_snapshots", "profile_version_id")
    op.drop_column("policy_profiles", "version")  # plain ALTER on both: a SQLite rebuild would trip the regions' keys
    with op.batch_alter_table("policy_profile_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_profile_versions_effective")
    op.drop_table("policy_profile_versions")
