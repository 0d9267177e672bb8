"""The registry's scheduled jobs: policy profiles and insurance facts brought to those in force today, and imports
whose process died resumed (all idempotent)."""

from __future__ import annotations

from core import clock
from core.scheduler import Job
from registry import imports, insurance, profiles


def apply_profiles() -> list[str]:
    """At 00:00 (Asia/Shanghai): a version loaded for a future date takes effect on its day."""
    return profiles.apply_due(clock.today())


def apply_insurance_facts() -> int:
    """At 00:00: a fact the bureau reported for a later date takes effect on its day (POLICY.md rule 10)."""
    return insurance.apply_due(clock.today())


def resume_imports() -> list[int]:
    """Every minute: an import whose runner died is resumed after its last committed batch (registry.imports)."""
    return imports.resume_abandoned()


JOBS = [Job("profiles", apply_profiles), Job("insurance_facts", apply_insurance_facts), Job("imports", resume_imports)]
