"""What operators watch of the outbox (core.observability's /metrics): how many messages wait, and how long."""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from core import clock, db
from notifications.models import MessageState, OutboxMessage


def outbox_gauges() -> Iterator[Metric]:
    """Messages by state, and the age of the oldest one still pending (0 when none waits)."""
    depth = GaugeMetricFamily("jiayi_outbox_messages", "Outbox messages by state", labels=["state"])
    counts = dict(db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    for state in MessageState:
        depth.add_metric([state.value], counts.get(state, 0))
    yield depth
    oldest = db.session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state == MessageState.PENDING))
    age = GaugeMetricFamily("jiayi_outbox_oldest_pending_seconds", "Age of the oldest pending outbox message")
    age.add_metric([], max((clock.now() - oldest).total_seconds(), 0) if oldest else 0)
    yield age
