"""What a channel says about one send: sent, or why not and whether trying again can help."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Delivery(str, enum.Enum):
    SENT = "sent"
    TRANSIENT = "transient"  # timeout, 5xx, a rejected token: try again later
    RATE_LIMITED = "rate_limited"  # back off longer
    PERMANENT = "permanent"  # refused, invalid address: stop


@dataclass(frozen=True)
class Result:
    delivery: Delivery
    reason: str = ""


SENT = Result(Delivery.SENT)
