"""The registry's scheduled job: bring policy profiles to the version in force today (idempotent)."""

from __future__ import annotations

from core import clock
from core.scheduler import Job
from registry import profiles


def apply_profiles() -> list[str]:
    """At 00:00 (Asia/Shanghai): a version loaded for a future date takes effect on its day."""
    return profiles.apply_due(clock.today())


JOBS = [Job("profiles", apply_profiles)]
