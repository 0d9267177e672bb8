"""What operators watch of county imports (core.observability's /metrics): the progress of each one running."""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import select

from core import db
from registry.models import Import, ImportStatus


def import_gauges() -> Iterator[Metric]:
    """Rows done and rows in all of each import that is queued or running (finished ones leave the metric)."""
    done = GaugeMetricFamily("jiayi_import_rows_done", "Rows an import has done", labels=["import_id"])
    total = GaugeMetricFamily("jiayi_import_rows_total", "Rows in an import's file", labels=["import_id"])
    for job in db.session.scalars(select(Import).where(Import.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]))):
        done.add_metric([str(job.id)], job.rows_done)
        total.add_metric([str(job.id)], job.total_rows)
    yield done
    yield total
